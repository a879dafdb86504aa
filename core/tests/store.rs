//! Reading a store back: lists filter by field and stop at their limit; a meta event
//! persists its entries and nothing else. What a reopened RocksDB store holds is
//! tested with it, in `linli-store-rocks`.

mod common;

use common::*;
use linli_core::replica::{Effect, Event};
use linli_core::store::Storage;
use linli_core::value::Value;
use linli_core::write::Write;
use serde_json::json;

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
    assert!(batch.local.is_empty() && batch.forget.is_empty() && batch.log_id.is_none());

    node.step(Event::Meta { entries: entries.clone() }).unwrap();
    for (name, value) in &entries {
        assert_eq!(node.store.meta(name).unwrap().as_ref(), Some(value));
    }
    assert_eq!(node.store.log_last_seq().unwrap(), last_seq, "no log entry");
    assert_eq!(node.store.doc_ids().unwrap(), docs, "no document");
    assert_eq!(node.replica.views(), &views);
    assert_eq!(node.replica.recount(&node.store).unwrap(), views);
}
