//! The views queries read (duration histograms, group sums) move with a peer's changes
//! as they do with local writes, and equal a recount. Their life through local writes
//! and a reopen is tested on RocksDB, in `linli-store-rocks`.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{Scope, StoredReplica};
use linli_core::store::Storage;
use linli_core::write::{FieldOp, Write};
use serde_json::json;

const HOUR: i64 = 3_600_000;

fn check_recount<S: Storage>(node: &mut StoredReplica<S>) {
    let recount = node.replica.recount(&node.store).unwrap();
    assert_eq!(node.replica.views(), &recount, "views differ from a recount");
}

#[test]
fn a_peers_changes_move_the_query_views_as_local_writes_do() {
    let mut community = community();
    let mut street = replica("lg-street", Scope::All);
    let now = NOW_MS as i64;
    let key = new_request(&mut community, 0).key;
    community.write(Write::set(key.clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    community.write(Write::set(key.clone(), &[("status", json!("accepted"))]), NOW_MS).unwrap();
    community
        .write(Write::set(key.clone(), &[("status", json!("resolved")), ("resolved_at", json!(now + HOUR))]), NOW_MS)
        .unwrap();
    let volunteer = community
        .write(
            Write::create(
                COMMUNITY,
                "volunteers",
                &[("member", json!("m")), ("team", json!("一队")), ("month_of", json!(now))],
            ),
            NOW_MS,
        )
        .unwrap()
        .key;
    community.write(Write::update(volunteer, vec![FieldOp::Add { field: "hours".into(), delta: 3 }]), NOW_MS).unwrap();
    let entries = community.store.log_after(0, usize::MAX).unwrap();
    let origin = NodeId::new(COMMUNITY).unwrap();
    for entry in entries {
        street.apply(&origin, vec![(entry.doc, entry.changes)], NOW_MS + 60_000).unwrap();
    }
    assert_eq!(street.replica.views(), community.replica.views(), "the street's views equal the community's");
    check_recount(&mut street);
}

#[test]
fn sites_are_counted_by_colour_class_and_a_new_colour_moves_the_count() {
    let mut community = community();
    let site = |kind: &str, colour: Option<&str>| {
        let mut fields = vec![("kind", json!(kind)), ("name", json!("暖蜂驿站"))];
        fields.extend(colour.map(|c| ("colour", json!(c))));
        Write::create(COMMUNITY, "sites", &fields)
    };
    let red = community.write(site("v_station", Some("red")), NOW_MS).unwrap().key;
    community.write(site("v_station", Some("red")), NOW_MS).unwrap();
    community.write(site("micro_station", None), NOW_MS).unwrap();
    let placement = linli_core::query::Placement::default();
    let colours = |node: &StoredReplica<_>| {
        let found = linli_core::query::site_colours(node.replica.views(), &Default::default(), &placement);
        found.into_iter().map(|(c, n)| format!("{c}:{n}")).collect::<Vec<_>>()
    };
    assert_eq!(colours(&community), ["-:1", "red:2"]);
    community.write(Write::set(red, &[("colour", json!("green"))]), NOW_MS).unwrap();
    assert_eq!(colours(&community), ["-:1", "green:1", "red:1"]);
    check_recount(&mut community);
    // Another community's sites are not this filter's.
    let elsewhere = linli_core::query::Filter { community: Some("lg-other".into()), ..Default::default() };
    assert!(linli_core::query::site_colours(community.replica.views(), &elsewhere, &placement).is_empty());
}
