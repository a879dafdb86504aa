//! Storage behaviour a restart relies on: compaction bounds what a load replays, the
//! document cache stays bounded, and a reopened RocksDB store holds exactly what was
//! acknowledged, views included.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_core::write::Write;
use linli_store_rocks::RocksStore;
use serde_json::json;

fn config() -> ReplicaConfig {
    ReplicaConfig {
        doc_cache_max: 2,
        compact_chunks_min: 16,
        compact_chunks_max: 40,
        ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY))
    }
}

fn open(dir: &std::path::Path) -> StoredReplica<RocksStore> {
    StoredReplica::open(config(), Registries::defaults().unwrap(), RocksStore::open(dir).unwrap()).unwrap()
}

fn chunks(node: &StoredReplica<RocksStore>) -> Vec<usize> {
    node.store.doc_ids().unwrap().iter().map(|d| node.store.load_doc(d).unwrap().unwrap().chunks.len()).collect()
}

const MONTH_MS: i64 = 31 * 24 * 3_600_000;

#[test]
fn compaction_bounds_chunks_and_a_reopened_store_holds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = open(dir.path());
    let mut keys = Vec::new();
    // Five months of requests (five documents, more than the cache holds), one write
    // per batch so that every write is its own chunk.
    for i in 0..150 {
        let mut fields = request_fields(i);
        fields.retain(|(f, _)| *f != "reported_at");
        fields.push(("reported_at", json!(NOW_MS as i64 - (i as i64 % 5) * MONTH_MS)));
        keys.push(node.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS).unwrap().key);
    }
    for key in keys.iter().step_by(3) {
        node.write(Write::set(key.clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    }
    assert_eq!(node.store.doc_ids().unwrap().len(), 5);
    // Inline compaction keeps every document under compact_chunks_max chunks...
    assert!(chunks(&node).iter().all(|c| *c < 40), "{:?}", chunks(&node));
    // ...and ticks compact cached documents past compact_chunks_min.
    for _ in 0..5 {
        node.tick(NOW_MS).unwrap();
    }
    let after_ticks = chunks(&node);
    assert!(after_ticks.iter().filter(|c| **c < 16).count() >= 2, "{after_ticks:?}");

    let materialized = node.replica.materialize(&node.store).unwrap();
    let views = node.replica.views().clone();
    drop(node);

    let mut reopened = open(dir.path());
    assert_eq!(reopened.replica.views(), &views, "views are read back as they were");
    assert_eq!(reopened.replica.materialize(&reopened.store).unwrap(), materialized);
    let recount = reopened.replica.recount(&reopened.store).unwrap();
    assert_eq!(reopened.replica.views(), &recount);
    for key in &keys {
        assert!(reopened.replica.get(&reopened.store, key).unwrap().is_some(), "{key} lost");
    }
    // The clock resumes after what it had handed out: new ids never repeat old ones.
    let new = reopened.write(Write::create(COMMUNITY, "requests", &request_fields(0)), 1).unwrap();
    assert!(!keys.contains(&new.key));
    assert!(new.at.wall_ms() >= NOW_MS);
}

#[test]
fn a_store_that_cannot_open_names_its_path_and_says_so_through_core() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, "a file where the store should be").unwrap();
    let Err(error) = RocksStore::open(&file) else { panic!("a file opened as a store") };
    let text = error.to_string();
    assert!(text.starts_with("opening the RocksDB store at") && text.contains("not-a-directory"), "{text}");
    let core = linli_core::Error::from(error);
    assert!(
        matches!(&core, linli_core::Error::Storage { op, .. } if op.starts_with("opening") && op.contains("not-a-directory")),
        "{core}"
    );
}

/// The write buffers of all families together stay within the store's bound: a node
/// whose families each take a few MiB (none enough to flush alone) no longer holds
/// them all in memory until some family fills its own buffers.
#[test]
fn write_buffers_stay_within_the_store_bound() {
    use linli_core::ids::DocId;
    use linli_core::store::{LogEntry, StoreBatch};
    use linli_store_rocks::StoreMemory;
    const MIB: usize = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let memory = StoreMemory { memtable_bytes_max: 4 * MIB, ..StoreMemory::default() };
    let mut store = RocksStore::open_with(dir.path(), memory).unwrap();
    let doc = DocId::new(COMMUNITY, "requests", "2026-11").unwrap();
    // 96 batches of 64 KiB to the log and chunks (an entry is both) and 64 KiB to meta:
    // 18 MiB in three families, 6 MiB each.
    for seq in 1..=96u64 {
        let bytes = vec![seq as u8; 64 * 1024];
        let entry = LogEntry { seq, doc: doc.clone(), origin: None, changes: vec![bytes.clone()], traces: Vec::new() };
        let batch =
            StoreBatch { log: vec![entry], meta: vec![(format!("bench-{seq}"), bytes)], ..StoreBatch::default() };
        store.commit(&batch).unwrap();
    }
    let held = store.memtable_bytes() as usize;
    assert!(
        held <= 2 * memory.memtable_bytes_max,
        "write buffers hold {held} bytes, bound {}",
        memory.memtable_bytes_max
    );
    // Nothing is lost to the flushes.
    assert_eq!(store.log_after(0, usize::MAX).unwrap().len(), 96);
}
