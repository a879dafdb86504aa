//! The document cache is bounded by the memory its documents hold, not by their
//! stored size: a month of requests stored in tens of KB holds megabytes once loaded,
//! so a bound on stored bytes kept every document open. Evicted documents reload
//! from the store whole.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::MemoryStore;
use linli_core::write::Write;
use serde_json::json;

const DAY_MS: u64 = 24 * 3_600_000;
const MONTHS: u64 = 6;
const PER_MONTH: usize = 300;

/// A document larger than the whole bound stays cached while it is the one in use:
/// evicting it after every step made every next step reload it whole (64 writers to
/// one busy month ran at a few hundred writes a second once the month passed the
/// bound).
#[test]
fn a_document_larger_than_the_bound_stays_cached_while_it_is_written() {
    let bound = 64 * 1024;
    let config = ReplicaConfig {
        doc_cache_bytes_max: bound,
        ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY))
    };
    let mut community = StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap();
    for i in 0..200 {
        community.write(Write::create(COMMUNITY, "requests", &request_fields(i)), NOW_MS).unwrap();
    }
    // What a runtime does between steps, once the step is durable.
    community.replica.evict();
    let (docs, bytes) = community.replica.cache_size();
    assert!(bytes > bound, "the month ({bytes} bytes by estimate) should pass the bound of {bound}");
    assert_eq!(docs, 1, "the month being written was evicted between steps");
    assert!(!community.replica.cache_over_bound(), "nothing to evict, so no wait for it");
    // Another month's write: the old month goes, the new one stays.
    let mut fields = request_fields(0);
    fields.retain(|(field, _)| *field != "reported_at");
    fields.push(("reported_at", json!((NOW_MS - 40 * DAY_MS) as i64)));
    let written = community.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS).unwrap();
    assert!(community.replica.cache_over_bound());
    community.replica.evict();
    let StoredReplica { replica, store, .. } = &mut community;
    assert_eq!(replica.cache_size().0, 1);
    assert!(replica.get(store, &written.key).unwrap().is_some());
}

#[test]
fn the_cache_holds_documents_by_their_memory_and_reloads_the_evicted_whole() {
    let bound = 1 << 20;
    let config = ReplicaConfig {
        doc_cache_bytes_max: bound,
        ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY))
    };
    let mut community = StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap();
    let mut first = Vec::new();
    for month in 0..MONTHS {
        let reported_ms = (NOW_MS - (MONTHS - month) * 31 * DAY_MS) as i64;
        for i in 0..PER_MONTH {
            let mut fields = request_fields(i);
            fields.retain(|(field, _)| *field != "reported_at");
            fields.push(("reported_at", json!(reported_ms)));
            let written = community.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS).unwrap();
            if i == 0 {
                first.push(written.key);
            }
        }
    }
    // One more step, so that the last month's step is followed by an eviction.
    community.write(Write::create(COMMUNITY, "requests", &request_fields(0)), NOW_MS).unwrap();
    let (docs, bytes) = community.replica.cache_size();
    // Each month holds about 0.7 MB in memory (about 25 KB stored): the bound keeps at
    // most a month beside the one the last step touched.
    assert!(docs <= 2, "{docs} documents cached ({bytes} bytes by estimate) under a bound of {bound}");
    assert!(bytes <= 2 * bound, "{bytes} bytes cached by estimate under a bound of {bound}");
    // The evicted months reload with every record, and the views equal a recount.
    let StoredReplica { replica, store, .. } = &mut community;
    for key in &first {
        assert!(replica.get(store, key).unwrap().is_some(), "{key} did not reload");
    }
    let recount = replica.recount(store).unwrap();
    assert_eq!(replica.views(), &recount);
}
