//! The records every peer carries: a community's requests, one Automerge change each,
//! spread over `docs` documents (a request lives in the document of the month it was
//! reported, so document `d` holds the requests of the `d`-th month from 1990: a
//! thousand documents reach 2073, which the schema takes). linli's
//! community writes them through its engine; the peers get the very changes linli's
//! replica made for the same writes.

use linli_benches::{NOW_MS, request_with};
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};
use linli_core::write::Write;
use serde_json::json;
use std::collections::BTreeMap;

/// The community whose records these are.
pub const COMMUNITY: &str = "lg-s01-c01";
pub const STREET: &str = "lg-s01";

const MONTH_MS: u64 = 31 * 24 * 3_600_000;
/// 1990-01-15T00:00:00Z: the first document's month.
const FIRST_MS: u64 = 632_361_600_000;

/// Request `i` of a community whose requests span `docs` months: it lands in
/// document `i % docs`, so writing `0..n` fills the documents round-robin.
pub fn request(i: usize, docs: usize) -> Write {
    let reported_at = (FIRST_MS + (i % docs) as u64 * MONTH_MS) as i64;
    request_with(COMMUNITY, i, json!(format!("路面鼓包，影响通行（{i}号）")), reported_at)
}

/// The changes of requests `0..count` written one at a time, by document, each in
/// write order: what a peer applies for the same writes.
pub fn changes_by_doc(docs: usize, count: usize) -> Vec<Vec<Vec<u8>>> {
    let registries = Registries::defaults().expect("registries");
    let config = ReplicaConfig::new(NodeId::new(COMMUNITY).expect("id"), Scope::only(COMMUNITY));
    let mut replica = StoredReplica::open(config, registries, MemoryStore::new()).expect("replica");
    for i in 0..count {
        replica.write(request(i, docs), NOW_MS).expect("write");
    }
    let mut by_doc: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for entry in replica.store.log_after(0, usize::MAX).expect("log") {
        if entry.doc.registry == "requests" {
            by_doc.entry(entry.doc.shard.clone()).or_default().extend(entry.changes);
        }
    }
    assert_eq!(by_doc.len(), docs, "one document per month");
    // Shards are named `YYYY-MM`: in order, document `d` is the `d`-th month.
    by_doc.into_values().collect()
}

/// The zstd (level 3) size of `changes` concatenated: what compressing the raw
/// changes alone would ship.
pub fn zstd_bytes<'a>(changes: impl IntoIterator<Item = &'a Vec<u8>>) -> usize {
    let raw: Vec<u8> = changes.into_iter().flatten().copied().collect();
    zstd::bulk::compress(&raw, 3).expect("zstd").len()
}
