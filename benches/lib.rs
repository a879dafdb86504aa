//! Shared fixtures of linli's benches (in `benches/`).

use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::MemoryStore;
use linli_core::write::Write;
use serde_json::json;

pub const COMMUNITY: &str = "lg-pingdi-pingdi";
/// 2026-11-22T04:00:00Z.
pub const NOW_MS: u64 = 1_795_320_000_000;

pub fn request(i: usize) -> Write {
    request_at(COMMUNITY, i)
}

/// A new request raised at `community`.
pub fn request_at(community: &str, i: usize) -> Write {
    request_with(community, i, json!("路面鼓包，影响通行"), NOW_MS as i64)
}

/// A new request raised at `community` with `summary`, reported at `reported_at_ms`
/// (its month is its document), due 48 hours later.
pub fn request_with(community: &str, i: usize, summary: serde_json::Value, reported_at_ms: i64) -> Write {
    Write::create(
        community,
        "requests",
        &[
            ("category", json!("environment")),
            ("channel", json!("qr_code")),
            ("grid", json!(format!("grid-{}", i % 13))),
            ("summary", summary),
            ("reported_at", json!(reported_at_ms)),
            ("deadline", json!(reported_at_ms + 48 * 3_600_000)),
        ],
    )
}

pub fn memory_replica(node: &str) -> StoredReplica<MemoryStore> {
    let config = ReplicaConfig::new(NodeId::new(node).expect("node id"), Scope::only(COMMUNITY));
    StoredReplica::open(config, Registries::defaults().expect("registries"), MemoryStore::new()).expect("replica")
}
