//! Durable local writes through the node's engine: each write is acknowledged only
//! after its batch is in RocksDB's synced WAL. One writer shows the acknowledgement
//! latency; 64 concurrent writers show how group commit shares syncs, to one document
//! (a busy month's requests) and to five (requests of five months: what writes to
//! several registries look like), the latter with the documents' changes made on one
//! thread and on two (`commit_threads`), in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use linli_benches::{COMMUNITY, NOW_MS, request, request_with};
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope};
use linli_core::schema::Registries;
use linli_node::{Engine, EngineConfig};
use std::time::{Duration, Instant};

fn start_engine(dir: &std::path::Path) -> Engine {
    start_engine_with(dir, 1)
}

fn start_engine_with(dir: &std::path::Path, commit_threads: usize) -> Engine {
    let replica = ReplicaConfig {
        commit_threads,
        ..ReplicaConfig::new(NodeId::new(COMMUNITY).expect("id"), Scope::only(COMMUNITY))
    };
    Engine::start(EngineConfig::new(replica, Registries::defaults().expect("registries"), dir.into())).expect("engine")
}

const WRITERS: usize = 64;
const PER_WRITER: usize = 32;
const DAY_MS: i64 = 24 * 3_600_000;

/// `WRITERS` threads writing `PER_WRITER` writes each, `make(i)` the i-th; the time
/// until every write is durable.
fn writers(engine: &Engine, make: &(dyn Fn(usize) -> linli_core::write::Write + Sync)) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let handle = engine.handle();
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    handle.write(make(w * PER_WRITER + i)).expect("write");
                }
            });
        }
    });
    started.elapsed()
}

/// A request of one of five months, the months of the `round`-th run (each run
/// writes months of its own: documents of a few hundred requests each, as a busy
/// community's months are, rather than five documents that grow without end and, past
/// the cache, reload on every step).
fn request_of_five_months(round: usize, i: usize) -> linli_core::write::Write {
    // Within 500 months back (then the same months again, a few hundred requests more).
    let month = (round % 100) * 5 + i % 5;
    let reported_ms = NOW_MS as i64 - month as i64 * 31 * DAY_MS;
    request_with(COMMUNITY, i, serde_json::json!("路面鼓包，影响通行"), reported_ms)
}

fn durable_writes(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_writes");
    group.sample_size(20).measurement_time(Duration::from_secs(8));

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    let handle = engine.handle();
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("1_writer", |b| {
        b.iter(|| {
            i += 1;
            handle.write(request(i)).expect("write")
        })
    });
    drop(engine);

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    group.throughput(Throughput::Elements((WRITERS * PER_WRITER) as u64));
    group.bench_function("64_writers", |b| b.iter_custom(|iters| (0..iters).map(|_| writers(&engine, &request)).sum()));
    drop(engine);

    for threads in [1, 2] {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = start_engine_with(dir.path(), threads);
        let mut round = 0;
        group.bench_function(format!("64_writers_5_documents_{threads}_threads"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        round += 1;
                        writers(&engine, &|i| request_of_five_months(round, i))
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, durable_writes);
criterion_main!(benches);
