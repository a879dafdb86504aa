//! A batch of writes to several documents makes their changes on several threads
//! (`ReplicaConfig::commit_threads`): the log, the documents and the views are the
//! very ones one thread makes, byte for byte.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};
use linli_core::write::Write;
use serde_json::json;

const DAY_MS: u64 = 24 * 3_600_000;

fn community_with(commit_threads: usize) -> StoredReplica<MemoryStore> {
    let config =
        ReplicaConfig { commit_threads, ..ReplicaConfig::new(NodeId::new(COMMUNITY).unwrap(), Scope::only(COMMUNITY)) };
    StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap()
}

/// 64 requests over 5 months (5 documents), and the second batch's moves of some.
fn batches() -> Vec<Vec<Write>> {
    let created = (0..64)
        .map(|i| {
            let mut fields = request_fields(i);
            fields.retain(|(field, _)| *field != "reported_at");
            fields.push(("reported_at", json!((NOW_MS - (i as u64 % 5) * 31 * DAY_MS) as i64)));
            Write::create(COMMUNITY, "requests", &fields)
        })
        .collect();
    vec![created]
}

#[test]
fn changes_made_on_several_threads_are_the_ones_one_thread_makes() {
    let (mut one, mut two) = (community_with(1), community_with(2));
    for (n, batch) in batches().into_iter().enumerate() {
        let now = NOW_MS + n as u64;
        let a: Vec<_> = one.write_many(batch.clone(), now).unwrap().into_iter().map(Result::unwrap).collect();
        let b: Vec<_> = two.write_many(batch, now).unwrap().into_iter().map(Result::unwrap).collect();
        assert_eq!(a, b, "the answers differ");
        let docs: std::collections::BTreeSet<_> = a.iter().map(|w| w.key.doc.clone()).collect();
        assert_eq!(docs.len(), 5, "the batch touches five documents");
        // Moves of every third request, to the same documents again.
        let moves: Vec<_> =
            a.iter().step_by(3).map(|w| Write::set(w.key.clone(), &[("status", json!("dispatched"))])).collect();
        one.write_many(moves.clone(), now + 1).unwrap();
        two.write_many(moves, now + 1).unwrap();
    }
    let (log_one, log_two) = (one.store.log_after(0, usize::MAX).unwrap(), two.store.log_after(0, usize::MAX).unwrap());
    assert_eq!(log_one.len(), 10, "one entry per document and batch");
    assert_eq!(log_one, log_two, "the logs differ");
    assert_eq!(one.replica.views(), two.replica.views());
    let recount = two.replica.recount(&two.store).unwrap();
    assert_eq!(two.replica.views(), &recount);
}
