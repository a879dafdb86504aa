//! A document whose stored bytes Automerge cannot read is quarantined, not failed
//! forever: the node loads what reads, makes the store whole again in one batch,
//! keeps its views equal to a recount, and the document's sync with a peer that holds
//! it brings back what was lost.

mod common;

use common::*;
use linli_core::ids::{DocId, NodeId};
use linli_core::replica::{Effect, Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{LogEntry, MemoryStore, Snapshot, Storage, StoreBatch};
use linli_core::write::Write;

fn reopen(store: MemoryStore) -> StoredReplica<MemoryStore> {
    let config = ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY));
    StoredReplica::open(config, Registries::defaults().unwrap(), store).expect("the node refused to start")
}

fn street() -> StoredReplica<MemoryStore> {
    replica("lg-pingdi", Scope::Owners([COMMUNITY.to_string()].into()))
}

/// Applies `from`'s whole log at `to`, as a link does.
fn ship(to: &mut StoredReplica<MemoryStore>, from: &StoredReplica<MemoryStore>) {
    let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
    for entry in from.store.log_after(0, usize::MAX).unwrap() {
        match docs.iter_mut().find(|(doc, _)| *doc == entry.doc) {
            Some((_, changes)) => changes.extend(entry.changes),
            None => docs.push((entry.doc, entry.changes)),
        }
    }
    for (_, result) in to.apply(from.replica.node(), docs, NOW_MS).unwrap() {
        result.unwrap();
    }
}

/// One step of Automerge's sync protocol at `at` with `peer` on `doc`.
fn sync_step(
    at: &mut StoredReplica<MemoryStore>,
    peer: &NodeId,
    doc: &DocId,
    message: Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let event = Event::Sync {
        peer: peer.clone(),
        actors_refused: Default::default(),
        doc: doc.clone(),
        message,
        now_ms: NOW_MS,
    };
    at.step(event).unwrap().into_iter().find_map(|effect| match effect {
        Effect::Sync { reply, result, .. } => {
            result.unwrap();
            reply
        }
        _ => None,
    })
}

/// Syncs `doc` between `a` (which starts) and `b` until neither has more to say.
fn sync(a: &mut StoredReplica<MemoryStore>, b: &mut StoredReplica<MemoryStore>, doc: &DocId) {
    let (a_id, b_id) = (a.replica.node().clone(), b.replica.node().clone());
    let mut to_b = sync_step(a, &b_id, doc, None);
    let mut to_a = None;
    for _ in 0..32 {
        if let Some(message) = to_b.take() {
            to_a = sync_step(b, &a_id, doc, Some(message));
        }
        if let Some(message) = to_a.take() {
            to_b = sync_step(a, &b_id, doc, Some(message));
        }
        if to_a.is_none() && to_b.is_none() {
            return;
        }
    }
    panic!("the sync of {doc} did not end");
}

fn assert_views_equal_a_recount(node: &mut StoredReplica<MemoryStore>, when: &str) {
    let recount = node.replica.recount(&node.store).unwrap();
    assert_eq!(node.replica.views(), &recount, "{when}: the views differ from a recount");
    // And what is stored reads back as the same views.
    let reopened = reopen(node.store.clone());
    assert_eq!(reopened.replica.views(), &recount, "{when}: the stored views differ from a recount");
}

#[test]
fn a_corrupt_chunk_is_quarantined_and_repaired_from_a_peer() {
    let mut community = community();
    let keys: Vec<_> = (0..4).map(|i| new_request(&mut community, i).key).collect();
    let doc = keys[0].doc.clone();
    assert!(keys.iter().all(|k| k.doc == doc), "one document, one chunk per write");
    let mut street = street();
    ship(&mut street, &community);

    // A bad sector takes the second write's chunk and its log entry (both copies).
    let torn = LogEntry {
        seq: 2,
        doc: doc.clone(),
        origin: None,
        changes: vec![b"not automerge".to_vec()],
        traces: Vec::new(),
    };
    community.store.commit(&StoreBatch { log: vec![torn], ..StoreBatch::default() }).unwrap();

    // Reopened under the same Automerge actor, as when a chunk written since the start
    // tears: the quarantined document must not number a new change as the lost one.
    let mut community = reopen(community.store);
    // A write to the corrupt document works, and says it quarantined it.
    let write = Write::create(COMMUNITY, "requests", &request_fields(9));
    let effects = community.step(Event::Writes { writes: vec![(0, write)], now_ms: NOW_MS }).unwrap();
    let written = effects.iter().find_map(|e| match e {
        Effect::Written { result, .. } => Some(result.as_ref().expect("the write failed").key.clone()),
        _ => None,
    });
    let quarantined = effects.iter().find_map(|e| match e {
        Effect::Quarantined { docs } => Some(docs.clone()),
        _ => None,
    });
    assert_eq!(quarantined, Some(vec![doc.clone()]), "no quarantine reported");
    let written = written.expect("no answer to the write");
    assert_eq!(written.doc, doc);
    // Writes to other documents work too.
    new_task(&mut community);
    assert!(community.replica.get(&community.store, &keys[0]).unwrap().is_some(), "the first write is lost");
    assert_views_equal_a_recount(&mut community, "after the quarantine");
    assert_eq!(community.replica.quarantined().iter().collect::<Vec<_>>(), vec![&doc]);

    // The store is whole again: a restart meets no corruption, and still repairs.
    let stored = community.store.load_doc(&doc).unwrap().unwrap();
    assert!(stored.snapshot.is_some(), "no snapshot replaced the corrupt chunks");
    assert!(stored.chunks.iter().all(|(seq, _)| *seq > 4), "corrupt chunks are still stored: {:?}", stored.chunks);
    let mut community = reopen(community.store);
    assert_eq!(community.replica.quarantined().iter().collect::<Vec<_>>(), vec![&doc], "the repair was forgotten");

    // The repair: the street holds the document.
    sync(&mut community, &mut street, &doc);
    for key in keys.iter().chain([&written]) {
        assert!(community.replica.get(&community.store, key).unwrap().is_some(), "{key} did not come back");
        assert!(street.replica.get(&street.store, key).unwrap().is_some(), "{key} did not reach the street");
    }
    assert_views_equal_a_recount(&mut community, "after the repair");
    assert_views_equal_a_recount(&mut street, "the street after the repair");
    assert!(community.replica.quarantined().is_empty(), "the repaired document is still quarantined");
    assert_eq!(community.store.meta(&format!("waiting/{doc}")).unwrap(), None, "changes still wait");
}

#[test]
fn a_corrupt_snapshot_is_quarantined_and_its_chunks_still_load() {
    let mut community = community();
    let keys: Vec<_> = (0..3).map(|i| new_request(&mut community, i).key).collect();
    let doc = keys[0].doc.clone();
    let counted = community.replica.views().clone();
    // A torn snapshot that covers none of the chunks.
    let torn = Snapshot { doc: doc.clone(), through_seq: 0, bytes: b"torn".to_vec() };
    community.store.commit(&StoreBatch { snapshots: vec![torn], ..StoreBatch::default() }).unwrap();

    let mut community = reopen(community.store);
    for key in &keys {
        assert!(community.replica.get(&community.store, key).unwrap().is_some(), "{key} is lost");
    }
    assert_eq!(community.replica.views(), &counted);
    // The read's quarantine is persisted with the next batch.
    new_task(&mut community);
    let stored = community.store.load_doc(&doc).unwrap().unwrap();
    assert_ne!(stored.snapshot.map(|(_, bytes)| bytes), Some(b"torn".to_vec()), "the torn snapshot is still stored");
    assert_views_equal_a_recount(&mut community, "after the quarantine");
}
