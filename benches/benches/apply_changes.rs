//! Applying a batch of 1,000 changes from a peer to documents of 1,000, 10,000 and
//! 50,000 records, in one call, views included: the cost of catching up a replica.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use linli_benches::{NOW_MS, memory_replica, request};
use linli_core::ids::NodeId;
use linli_core::replica::Event;
use linli_core::store::Storage;
use linli_core::write::Write;
use serde_json::json;
use std::time::Duration;

const CHANGES: usize = 1_000;
const CREATE_BATCH: usize = 500;

fn apply_changes(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply_1000_changes");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(CHANGES as u64));
    for records in [1_000usize, 10_000, 50_000] {
        // The document as both replicas hold it before the batch.
        let mut origin = memory_replica("lg-pingdi-pingdi");
        let mut keys = Vec::with_capacity(records);
        for start in (0..records).step_by(CREATE_BATCH) {
            let writes = (start..(start + CREATE_BATCH).min(records)).map(request).collect();
            for result in origin.write_many(writes, NOW_MS).expect("create") {
                keys.push(result.expect("created").key);
            }
        }
        let doc = keys[0].doc.clone();
        let base_log: Vec<Vec<u8>> =
            origin.store.log_after(0, usize::MAX).expect("log").into_iter().flat_map(|e| e.changes).collect();
        // 1,000 separate changes: one status move each, as a street dispatching.
        let mut changes = Vec::with_capacity(CHANGES);
        for key in keys.iter().take(CHANGES) {
            let written =
                origin.write(Write::set(key.clone(), &[("status", json!("dispatched"))]), NOW_MS).expect("dispatch");
            changes.extend(
                origin
                    .store
                    .log_after(written.seq.expect("a status move is logged") - 1, 1)
                    .expect("log")
                    .remove(0)
                    .changes,
            );
        }
        // Baseline in the same process: Automerge alone applying the same batch to the
        // same document, with no views, log or store.
        let base_doc = {
            let mut am = automerge::AutoCommit::load(linli_core::doc::genesis_bytes()).expect("genesis");
            let decoded: Vec<automerge::Change> =
                base_log.iter().map(|c| automerge::Change::from_bytes(c.clone()).expect("change")).collect();
            am.apply_changes(decoded).expect("base");
            am.save()
        };
        group.bench_function(format!("{records}_records_automerge_only"), |b| {
            b.iter_batched(
                || automerge::AutoCommit::load(&base_doc).expect("load"),
                |mut am| {
                    // Decoding is timed too: a receiver always decodes what it is sent.
                    let decoded: Vec<automerge::Change> =
                        changes.iter().map(|c| automerge::Change::from_bytes(c.clone()).expect("change")).collect();
                    am.apply_changes(decoded).expect("apply");
                    am
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("{records}_records"), |b| {
            b.iter_batched(
                || {
                    let mut peer = memory_replica("lg-longgang-pingdi");
                    peer.apply(&NodeId::new("lg-longgang").expect("id"), vec![(doc.clone(), base_log.clone())], NOW_MS)
                        .expect("base");
                    peer
                },
                |mut peer| {
                    let effects = peer
                        .step(Event::Changes {
                            origin: NodeId::new("lg-longgang").expect("id"),
                            actors_refused: Default::default(),
                            docs: vec![(doc.clone(), changes.clone())],
                            traces: Default::default(),
                            meta: Vec::new(),
                            now_ms: NOW_MS,
                        })
                        .expect("apply");
                    assert!(!effects.is_empty());
                    peer
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, apply_changes);
criterion_main!(benches);
