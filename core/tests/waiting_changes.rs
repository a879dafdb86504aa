//! Changes that arrive before their dependencies are stored with the batch that brought
//! them: the link's checkpoint moves on (every other link's too), they survive a
//! restart and an eviction, and they apply once what they wait for arrives.

mod common;

use common::*;
use linli_core::ids::{DocId, NodeId};
use linli_core::link::Checkpoint;
use linli_core::replica::{Effect, Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{LogEntry, MemoryStore, Storage};
use linli_core::write::Write;
use serde_json::json;

const OTHER: &str = "lg-pingdi-fuping";

fn street_over(store: MemoryStore) -> StoredReplica<MemoryStore> {
    let scope = Scope::Owners([COMMUNITY.to_string(), OTHER.to_string()].into());
    let config = ReplicaConfig { doc_cache_max: 1, ..ReplicaConfig::new(NodeId::new("lg-pingdi").unwrap(), scope) };
    StoredReplica::open(config, Registries::defaults().unwrap(), store).unwrap()
}

/// Applies `entries` from `from` as a link does: the checkpoint through the last one
/// in the same event. Returns, per document, whether it was taken and whether it waits.
fn deliver(
    street: &mut StoredReplica<MemoryStore>,
    from: &StoredReplica<MemoryStore>,
    entries: &[LogEntry],
) -> Vec<(bool, bool)> {
    let origin = from.replica.node().clone();
    let through = entries.last().map_or(0, |e| e.seq);
    let fingerprint = entries.last().map_or(0, |e| e.fingerprint());
    let checkpoint = Checkpoint { log_id: from.replica.log_id().to_string(), through, fingerprint };
    let meta = vec![(Checkpoint::meta_name(&origin), checkpoint.encode())];
    // One group per document, as the session hands them over.
    let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
    for entry in entries {
        match docs.iter_mut().find(|(doc, _)| *doc == entry.doc) {
            Some((_, changes)) => changes.extend(entry.changes.iter().cloned()),
            None => docs.push((entry.doc.clone(), entry.changes.clone())),
        }
    }
    let effects = street
        .step(Event::Changes {
            origin,
            actors_refused: Default::default(),
            docs,
            traces: Default::default(),
            meta,
            now_ms: NOW_MS,
        })
        .unwrap();
    effects
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Applied { result, waiting, .. } => Some((result.is_ok(), waiting)),
            _ => None,
        })
        .collect()
}

fn checkpoint_of(street: &StoredReplica<MemoryStore>, peer: &StoredReplica<MemoryStore>) -> Option<u64> {
    let bytes = street.store.meta(&Checkpoint::meta_name(peer.replica.node())).unwrap()?;
    Checkpoint::decode(&bytes).map(|cp| cp.through)
}

#[test]
fn changes_before_their_dependencies_are_durable_and_pass_no_checkpoint_falsely() {
    let mut community = community();
    let created = new_request(&mut community, 0).key;
    community.write(Write::set(created.clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    let log = community.store.log_after(0, usize::MAX).unwrap();
    let mut other = replica(OTHER, Scope::only(OTHER));
    other.write(Write::create(OTHER, "requests", &request_fields(1)), NOW_MS).unwrap();
    let other_log = other.store.log_after(0, usize::MAX).unwrap();

    // The status change arrives first (its create is lost to the street, say).
    let mut street = street_over(MemoryStore::new());
    assert_eq!(deliver(&mut street, &community, &log[1..]), vec![(true, true)], "taken, and waiting");
    assert_eq!(checkpoint_of(&street, &community), Some(2), "the waiting change is durable: the checkpoint passes it");
    // Another child's link is not held back by it.
    assert_eq!(deliver(&mut street, &other, &other_log), vec![(true, false)]);
    assert_eq!(checkpoint_of(&street, &other), Some(other_log.len() as u64));

    // A restart (the cache held one document: the waiting one was evicted, too).
    let mut street = street_over(street.store);
    // What it waited for arrives (the repair's sync would bring it): both apply.
    assert_eq!(deliver(&mut street, &community, &log[..1]), vec![(true, false)]);
    let record = street.replica.get(&street.store, &created).unwrap().expect("the record");
    assert_eq!(record.to_json()["status"], json!("dispatched"), "the change that waited was lost");
    let entry = format!("waiting/{}", created.doc);
    assert_eq!(street.store.meta(&entry).unwrap(), None, "the applied changes are still stored as waiting");
}

#[test]
fn waiting_changes_past_the_bound_are_refused_and_the_document_still_synced() {
    let mut community = community();
    let created = new_request(&mut community, 0).key;
    // 800 updates of ~1.4 KB each: more than the bound's worth waits once the create
    // is missing.
    let blob = "鼓".repeat(480);
    for i in 0..800 {
        let summary = format!("{i}{blob}");
        community.write(Write::set(created.clone(), &[("summary", json!(summary))]), NOW_MS).unwrap();
    }
    let log = community.store.log_after(0, usize::MAX).unwrap();
    let mut street = street_over(MemoryStore::new());
    let outcome = deliver(&mut street, &community, &log[1..]);
    assert_eq!(outcome, vec![(false, true)], "refused at the bound, and its document synced");
    let entry = format!("waiting/{}", created.doc);
    assert_eq!(street.store.meta(&entry).unwrap(), None, "more than the bound was stored");
}

/// A district's change to a community's record reaches a street that lost the record
/// (a wiped street): it waits there until the community's create arrives. Both then
/// apply in the community's batch, but the district's change did not come from the
/// community: were it logged as the community's, the street would never ship it down
/// to the community (a link never ships an entry back to where it came from), and the
/// community would never see it. Before, it was.
#[test]
fn a_change_released_from_waiting_is_not_logged_as_the_releasing_peers() {
    let mut community = community();
    let created = new_request(&mut community, 0).key;
    let create_log = community.store.log_after(0, usize::MAX).unwrap();
    let mut district = replica("lg", Scope::All);
    deliver(&mut district, &community, &create_log);
    district.write(Write::set(created.clone(), &[("summary", json!("区里已派单"))]), NOW_MS).unwrap();
    let district_log = district.store.log_after(0, usize::MAX).unwrap();
    let district_change = district_log.last().unwrap().changes.clone();

    let mut street = street_over(MemoryStore::new());
    assert_eq!(deliver(&mut street, &district, &district_log[1..]), vec![(true, true)], "waits for the create");
    assert_eq!(deliver(&mut street, &community, &create_log), vec![(true, false)], "both apply");

    let entries = street.store.log_after(0, usize::MAX).unwrap();
    let community_id = community.replica.node().clone();
    let as_communitys = entries.iter().filter(|e| e.origin.as_ref() == Some(&community_id));
    assert!(
        as_communitys.flat_map(|e| &e.changes).all(|change| !district_change.contains(change)),
        "the district's change is logged as the community's: {:?}",
        entries.iter().map(|e| (e.seq, &e.origin)).collect::<Vec<_>>()
    );
    let shipped_down: Vec<&Vec<u8>> =
        entries.iter().filter(|e| e.origin.as_ref() != Some(&community_id)).flat_map(|e| &e.changes).collect();
    assert!(district_change.iter().all(|change| shipped_down.contains(&change)), "it ships down to the community");
    let record = street.replica.get(&street.store, &created).unwrap().unwrap();
    assert_eq!(record.fields.get("summary").and_then(|v| v.as_str()), Some("区里已派单"));
}
