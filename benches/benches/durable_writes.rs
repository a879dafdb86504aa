//! Durable local writes through the node's engine: each write is acknowledged only
//! after its batch is in RocksDB's synced WAL. One writer shows the acknowledgement
//! latency; 64 concurrent writers show how group commit shares syncs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use linli_benches::{COMMUNITY, request};
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope};
use linli_core::schema::Registries;
use linli_node::{Engine, EngineConfig};
use std::time::{Duration, Instant};

fn start_engine(dir: &std::path::Path) -> Engine {
    let replica = ReplicaConfig::new(NodeId::new(COMMUNITY).expect("id"), Scope::only(COMMUNITY));
    Engine::start(EngineConfig::new(replica, Registries::defaults().expect("registries"), dir.into())).expect("engine")
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

    const WRITERS: usize = 64;
    const PER_WRITER: usize = 32;
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(dir.path());
    group.throughput(Throughput::Elements((WRITERS * PER_WRITER) as u64));
    group.bench_function("64_writers", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                std::thread::scope(|s| {
                    for w in 0..WRITERS {
                        let handle = engine.handle();
                        s.spawn(move || {
                            for i in 0..PER_WRITER {
                                handle.write(request(w * PER_WRITER + i)).expect("write");
                            }
                        });
                    }
                });
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, durable_writes);
criterion_main!(benches);
