//! Helpers shared by the core's integration tests.
#![allow(dead_code)]

use linli_core::ids::{NodeId, RecordKey};
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica, Written};
use linli_core::schema::Registries;
use linli_core::store::MemoryStore;
use linli_core::write::Write;
use serde_json::json;

pub const COMMUNITY: &str = "lg-pingdi-pingdi";
/// 2026-11-22T04:00:00Z, a Sunday noon in Shenzhen.
pub const NOW_MS: u64 = 1_795_320_000_000;

pub fn replica(node: &str, scope: Scope) -> StoredReplica<MemoryStore> {
    let config = ReplicaConfig::new(NodeId::new(node).unwrap(), scope);
    StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap()
}

pub fn community() -> StoredReplica<MemoryStore> {
    replica(COMMUNITY, Scope::only(COMMUNITY))
}

pub fn request_fields(i: usize) -> Vec<(&'static str, serde_json::Value)> {
    vec![
        ("category", json!("environment")),
        ("channel", json!("qr_code")),
        ("grid", json!(format!("grid-{}", i % 13))),
        ("summary", json!("路面鼓包")),
        ("reported_at", json!(NOW_MS as i64)),
        ("deadline", json!(NOW_MS as i64 + 5 * 3_600_000)),
    ]
}

pub fn new_request(replica: &mut StoredReplica<MemoryStore>, i: usize) -> Written {
    replica.write(Write::create(COMMUNITY, "requests", &request_fields(i)), NOW_MS).unwrap()
}

pub fn new_task(replica: &mut StoredReplica<MemoryStore>) -> RecordKey {
    let fields =
        [("service", json!("meal_delivery")), ("summary", json!("送餐")), ("ordered_at", json!(NOW_MS as i64))];
    replica.write(Write::create(COMMUNITY, "tasks", &fields), NOW_MS).unwrap().key
}
