//! The views queries read (duration histograms, group sums, the open list, last seen)
//! move with every write, locally and from a peer, equal a recount, and survive a
//! reopen; records leaving them (resolved, reopened, a team renamed) leave no trace.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_core::views::{OpenKey, hist};
use linli_core::write::{FieldOp, Write};
use linli_store_rocks::RocksStore;
use serde_json::json;

const HOUR: i64 = 3_600_000;

fn open(dir: &std::path::Path) -> StoredReplica<RocksStore> {
    let config = ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY));
    StoredReplica::open(config, Registries::defaults().unwrap(), RocksStore::open(dir).unwrap()).unwrap()
}

fn check_recount<S: Storage>(node: &mut StoredReplica<S>) {
    let recount = node.replica.recount(&node.store).unwrap();
    assert_eq!(node.replica.views(), &recount, "views differ from a recount");
}

fn new_task_at(node: &mut StoredReplica<RocksStore>, at: i64) -> linli_core::ids::RecordKey {
    let fields = [("service", json!("meal_delivery")), ("summary", json!("送餐")), ("ordered_at", json!(at))];
    node.write(Write::create(COMMUNITY, "tasks", &fields), NOW_MS).unwrap().key
}

#[test]
fn lifecycles_move_the_query_views_and_a_reopen_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = open(dir.path());
    let now = NOW_MS as i64;
    let mut keys = Vec::new();
    for i in 0..6 {
        keys.push(node.write(Write::create(COMMUNITY, "requests", &request_fields(i)), NOW_MS).unwrap().key);
    }
    let resolve = |key: &linli_core::ids::RecordKey, at: i64| {
        vec![
            Write::set(key.clone(), &[("status", json!("dispatched"))]),
            Write::set(key.clone(), &[("status", json!("accepted"))]),
            Write::set(key.clone(), &[("status", json!("resolved")), ("resolved_at", json!(at))]),
        ]
    };
    for (i, key) in keys.iter().take(3).enumerate() {
        for write in resolve(key, now + (i as i64 + 1) * HOUR) {
            node.write(write, NOW_MS).unwrap();
        }
    }
    let views = node.replica.views().clone();
    let resolution: Vec<_> = views.durations.iter().filter(|(k, _)| k.duration == "resolution").collect();
    // Each record counts in its year, quarter, month, week and day, and over all time.
    let total: i64 = resolution.iter().map(|(_, h)| h.total()).sum();
    assert_eq!(total, 3 * 6);
    let months: Vec<_> = resolution.iter().filter(|(k, _)| k.period == "2026-11").collect();
    assert_eq!(months.len(), 1);
    assert_eq!(months[0].1.get(hist::bucket_of(2 * HOUR)), 1);
    assert_eq!(views.open.len(), 3, "three requests still open");
    assert!(!views.open.contains_key(&OpenKey { registry: "requests".into(), record: keys[0].to_string() }));
    check_recount(&mut node);

    // Reopening leaves the histogram; a new resolution time replaces the old one.
    node.write(Write::set(keys[0].clone(), &[("status", json!("accepted"))]), NOW_MS).unwrap();
    node.write(Write::set(keys[0].clone(), &[("resolved_at", json!(now + 30 * HOUR))]), NOW_MS).unwrap();
    node.write(Write::set(keys[0].clone(), &[("status", json!("resolved"))]), NOW_MS).unwrap();
    let views = node.replica.views().clone();
    let month = views.durations.iter().find(|(k, _)| k.duration == "resolution" && k.period == "2026-11").unwrap().1;
    assert_eq!(month.get(hist::bucket_of(HOUR)), 0, "the old resolution time is gone");
    assert_eq!(month.get(hist::bucket_of(30 * HOUR)), 1);
    check_recount(&mut node);

    // Volunteers by team: renaming the team moves the hours.
    let volunteer = node
        .write(
            Write::create(
                COMMUNITY,
                "volunteers",
                &[("member", json!("m1")), ("team", json!("环保一队")), ("month_of", json!(now))],
            ),
            NOW_MS,
        )
        .unwrap()
        .key;
    node.write(Write::update(volunteer.clone(), vec![FieldOp::Add { field: "hours".into(), delta: 7 }]), NOW_MS)
        .unwrap();
    node.write(Write::set(volunteer.clone(), &[("team", json!("助老二队"))]), NOW_MS).unwrap();
    let teams: Vec<_> = node
        .replica
        .views()
        .group_sums
        .iter()
        .filter(|(k, _)| k.field == "hours")
        .map(|(k, v)| (k.group.clone(), *v))
        .collect();
    assert_eq!(teams, [("助老二队".to_string(), 7)]);

    // Sites by last report: a report moves the site along the index.
    let site = node
        .write(Write::create(COMMUNITY, "sites", &[("kind", json!("v_station")), ("name", json!("V站"))]), NOW_MS)
        .unwrap()
        .key;
    assert!(node.replica.views().last_seen.contains_key(&(i64::MIN, site.to_string())), "never reported");
    node.write(Write::set(site.clone(), &[("last_report_at", json!(now))]), NOW_MS).unwrap();
    let seen: Vec<_> = node.replica.views().last_seen.keys().cloned().collect();
    assert_eq!(seen, [(now, site.to_string())]);

    // Task steps.
    let task = new_task_at(&mut node, now);
    node.write(
        Write::set(task.clone(), &[("status", json!("dispatched")), ("dispatched_at", json!(now + HOUR))]),
        NOW_MS,
    )
    .unwrap();
    let dispatch: i64 =
        node.replica.views().durations.iter().filter(|(k, _)| k.duration == "dispatch").map(|(_, h)| h.total()).sum();
    assert_eq!(dispatch, 6, "one task, in its year, quarter, month, week, day and all time");
    check_recount(&mut node);

    // Persisted in the same batches: a reopened store reads the same views.
    let views = node.replica.views().clone();
    drop(node);
    let mut reopened = open(dir.path());
    assert_eq!(reopened.replica.views(), &views);
    check_recount(&mut reopened);
}
