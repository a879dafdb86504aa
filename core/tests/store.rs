//! Reading a store back: lists filter by field and stop at their limit. What a reopened
//! RocksDB store holds is tested with it, in `linli-store-rocks`.

mod common;

use common::*;
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
