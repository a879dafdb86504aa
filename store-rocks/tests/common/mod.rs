//! Helpers shared by the RocksDB store's integration tests (the few of core's tests'
//! helpers they use).
#![allow(dead_code)]

use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::MemoryStore;
use serde_json::json;

pub const COMMUNITY: &str = "lg-pingdi-pingdi";
/// 2026-11-22T04:00:00Z, a Sunday noon in Shenzhen.
pub const NOW_MS: u64 = 1_795_320_000_000;

/// A peer that receives a node's changes, in memory.
pub fn replica(node: &str, scope: Scope) -> StoredReplica<MemoryStore> {
    let config = ReplicaConfig::new(NodeId::new(node).unwrap(), scope);
    StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap()
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
