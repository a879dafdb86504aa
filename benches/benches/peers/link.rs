//! linli's link: a community server and its street server in this process, over
//! plaintext gRPC on loopback through the counting relay. Every write is durable at
//! the community (synced WAL) before it ships, and the street has it once its views
//! count it, which happens when its batch is synced there.

use crate::records::{COMMUNITY, STREET, request};
use crate::relay::Relay;
use crate::{LinkFigures, Trial};
use linli_core::schema::Registries;
use linli_node::config::{LinkLimits, ServerConfig, Tier, Transport};
use linli_node::engine::EngineHandle;
use linli_node::server::{self, Running};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writers calling the community's engine at once, as a community's staff and its
/// apps do; the engine batches them into one synced step.
const WRITERS: usize = 64;

struct Pair {
    community: Running,
    street: Running,
    relay: Relay,
}

async fn start(dir: &Path, id: &str, tier: Tier, parent: Option<String>) -> (Running, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let link = LinkLimits {
        // A cut link comes back within tens of ms, so a catch-up measures the link, not
        // the reconnect backoff (100 ms to 10 s by default).
        backoff_ms_min: 5,
        backoff_ms_max: 20,
        ..LinkLimits::default()
    };
    let config = ServerConfig {
        id: id.into(),
        tier,
        listen: addr,
        data_dir: dir.join(id),
        parent,
        children: if tier == Tier::Street { vec![COMMUNITY.to_string()] } else { Vec::new() },
        registries_dir: None,
        backup_dir: None,
        metrics_listen: None,
        console_listen: None,
        link,
        memory: Default::default(),
        forget: Vec::new(),
        subtrees: Default::default(),
        clock: Default::default(),
        transport: Transport::Plaintext,
    };
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let registries = Registries::defaults().expect("registries");
        server::run(config, registries, listener, std::future::pending(), Some(started)).await.expect("server");
    });
    (running.await.expect("started"), addr)
}

impl Pair {
    async fn new(dir: &Path) -> Pair {
        let (street, street_addr) = start(dir, STREET, Tier::Street, None).await;
        let relay = Relay::start(street_addr).await;
        let (community, _) = start(dir, COMMUNITY, Tier::Community, Some(format!("http://{}", relay.addr))).await;
        Pair { community, street, relay }
    }

    /// Writes requests `range` at the community, [`WRITERS`] at a time.
    async fn write(&self, range: std::ops::Range<usize>, docs: usize) {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(range.start));
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (engine, next, end) = (self.community.engine.clone(), next.clone(), range.end);
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= end {
                            return;
                        }
                        engine.write_async(request(i, docs)).await.expect("write");
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.expect("writer");
        }
    }

    /// Waits until the street counts `count` of the community's requests; returns when.
    async fn street_has(&self, count: i64) -> Instant {
        let waited = Instant::now();
        loop {
            if requests(&self.street.engine).await >= count {
                return Instant::now();
            }
            assert!(waited.elapsed() < Duration::from_secs(300), "the street never had {count} requests");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// The community's requests the node's views count.
async fn requests(engine: &EngineHandle) -> i64 {
    engine
        .read_views_async(|views, _| {
            views
                .counts
                .iter()
                .filter(|(key, _)| key.registry == "requests" && key.community == COMMUNITY)
                .map(|(_, n)| *n)
                .sum()
        })
        .await
        .expect("views")
}

/// `docs * per_doc` requests written while linked, until the street has them all.
pub async fn throughput(dir: &Path, docs: usize, per_doc: usize) -> Trial {
    let pair = Pair::new(dir).await;
    pair.street_has(0).await;
    let count = docs * per_doc;
    let before = pair.relay.bytes();
    let started = Instant::now();
    pair.write(0..count, docs).await;
    let written = started.elapsed();
    let done = pair.street_has(count as i64).await;
    if std::env::var("LINLI_BENCH_PART").is_ok() {
        let (community, street) = (pair.community.engine.metrics(), pair.street.engine.metrics());
        eprintln!(
            "written at the community in {written:?}, at the street in {:?}; engine steps: community {} ({:.2} s, \
             syncs {:.2} s), street {} ({:.2} s, syncs {:.2} s); link batches at the street {}",
            done - started,
            community.engine_batch_requests.count(),
            community.engine_step_seconds.sum(),
            community.fsync_seconds.sum(),
            street.engine_batch_requests.count(),
            street.engine_step_seconds.sum(),
            street.fsync_seconds.sum(),
            street.link_batch_entries.count(),
        );
    }
    let until = pair.relay.bytes();
    pair.relay.quiet(Duration::from_millis(500)).await;
    Trial::new(count, done - started, before, until, pair.relay.bytes())
}

/// The street holds `base` requests of each of `docs` documents; the link drops,
/// the community writes `new` more to each, the link comes back.
pub async fn catch_up(dir: &Path, docs: usize, base: usize, new: usize) -> Trial {
    let pair = Pair::new(dir).await;
    pair.write(0..docs * base, docs).await;
    pair.street_has((docs * base) as i64).await;
    // Past `skipped_flush_ms`, as in `idle_reconnect`.
    pair.relay.quiet(Duration::from_millis(2_000)).await;
    pair.relay.cut();
    pair.write(docs * base..docs * (base + new), docs).await;
    let before = pair.relay.bytes();
    let started = Instant::now();
    pair.relay.heal();
    let done = pair.street_has((docs * (base + new)) as i64).await;
    let until = pair.relay.bytes();
    pair.relay.quiet(Duration::from_millis(500)).await;
    Trial::new(docs * new, done - started, before, until, pair.relay.bytes())
}

/// Both ends hold the same `docs` documents of `per_doc` requests; the link drops
/// and comes back with nothing to send.
pub async fn idle_reconnect(dir: &Path, docs: usize, per_doc: usize) -> LinkFigures {
    let pair = Pair::new(dir).await;
    pair.write(0..docs * per_doc, docs).await;
    pair.street_has((docs * per_doc) as i64).await;
    // Past `skipped_flush_ms`: the street has told the community how far its log goes
    // (entries the community wrote, not shipped back), so both hold a checkpoint.
    pair.relay.quiet(Duration::from_millis(2_000)).await;
    pair.relay.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = pair.relay.bytes();
    let started = Instant::now();
    pair.relay.heal();
    let last = pair.relay.quiet(Duration::from_millis(1_000)).await;
    let after = pair.relay.bytes();
    LinkFigures { bytes: (after.0 - before.0) + (after.1 - before.1), elapsed: last.saturating_duration_since(started) }
}
