//! Storage behaviour a restart relies on: compaction bounds what a load replays, the
//! document cache stays bounded, and a reopened RocksDB store holds exactly what was
//! acknowledged, views included.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{Effect, Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{RocksStore, Storage};
use linli_core::value::Value;
use linli_core::write::Write;
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
fn lists_filter_by_field_and_stop_at_the_limit() {
    let mut node = community();
    let mut safety = Vec::new();
    for i in 0..12 {
        let mut fields = request_fields(i);
        fields.retain(|(f, _)| *f != "category");
        let category = if i % 3 == 0 { "safety" } else { "environment" };
        fields.push(("category", json!(category)));
        let key = node.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS).unwrap().key;
        if category == "safety" {
            safety.push(key);
        }
    }
    node.write(Write::set(safety[0].clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();

    let filter = [("category".to_string(), Value::Enum("safety".into()))];
    let found = node.replica.list(&node.store, COMMUNITY, "requests", &filter, 100).unwrap();
    let mut found_keys: Vec<_> = found.iter().map(|r| r.key.clone()).collect();
    found_keys.sort();
    safety.sort();
    assert_eq!(found_keys, safety);

    let filter = [
        ("category".to_string(), Value::Enum("safety".into())),
        ("status".to_string(), Value::Enum("reported".into())),
    ];
    assert_eq!(node.replica.list(&node.store, COMMUNITY, "requests", &filter, 100).unwrap().len(), 3);
    assert_eq!(node.replica.list(&node.store, COMMUNITY, "requests", &[], 5).unwrap().len(), 5);
    assert!(node.replica.list(&node.store, "lg-pingdi-xiangxi", "requests", &[], 5).unwrap().is_empty());
}

#[test]
fn a_meta_event_persists_its_entries_and_nothing_else() {
    let mut node = community();
    new_request(&mut node, 0);
    let (views, last_seq, docs) =
        (node.replica.views().clone(), node.store.log_last_seq().unwrap(), node.store.doc_ids().unwrap());
    let entries = vec![("children".to_string(), b"lg-pingdi-a,lg-pingdi-b".to_vec()), ("left".to_string(), Vec::new())];

    let effects = node.replica.step(&node.store, Event::Meta { entries: entries.clone() });
    let [Effect::Persist(batch)] = effects.as_slice() else { panic!("one batch and no answer, got {effects:?}") };
    assert_eq!(batch.meta, entries);
    assert!(batch.hlc.is_some(), "sealed like every batch");
    assert!(batch.log.is_empty() && batch.snapshots.is_empty() && batch.views.is_empty());
    assert!(batch.local.is_empty() && batch.forget.is_empty() && batch.actor.is_none());

    node.step(Event::Meta { entries: entries.clone() }).unwrap();
    for (name, value) in &entries {
        assert_eq!(node.store.meta(name).unwrap().as_ref(), Some(value));
    }
    assert_eq!(node.store.log_last_seq().unwrap(), last_seq, "no log entry");
    assert_eq!(node.store.doc_ids().unwrap(), docs, "no document");
    assert_eq!(node.replica.views(), &views);
    assert_eq!(node.replica.recount(&node.store).unwrap(), views);
}
