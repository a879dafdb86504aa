//! Propagation: a write at a community to readable at the district, over real gRPC
//! links on loopback, while every community writes at a steady rate.
//!
//! `cargo bench -p linli-benches --bench propagation` (env: `LINLI_BENCH_STREETS`,
//! default 2; `LINLI_BENCH_COMMUNITIES`, default 8; `LINLI_BENCH_RATE`, writes per
//! second per community, default 10; `LINLI_BENCH_PROBES`, default 300). A probe writes
//! one request at a community and polls the district every millisecond until it reads
//! it; the figure includes the community's own synced write.

use linli_benches::request_at as request;
use linli_core::schema::Registries;
use linli_node::config::{LinkLimits, ServerConfig, Tier};
use linli_node::server::{self, Running};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn start(
    dir: &std::path::Path,
    id: &str,
    tier: Tier,
    parent: Option<String>,
    children: Vec<String>,
) -> (Running, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = ServerConfig {
        id: id.into(),
        tier,
        listen: addr,
        data_dir: dir.join(id),
        parent,
        children,
        registries_dir: None,
        metrics_listen: None,
        link: LinkLimits::default(),
        forget: Vec::new(),
        clock: Default::default(),
        transport: linli_node::config::Transport::Plaintext,
    };
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let registries = Registries::defaults().expect("registries");
        server::run(config, registries, listener, std::future::pending(), Some(started)).await.expect("server");
    });
    (running.await.expect("started"), format!("http://{addr}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let streets = env("LINLI_BENCH_STREETS", 2).max(1);
    let communities = env("LINLI_BENCH_COMMUNITIES", 8).max(1);
    let rate = env("LINLI_BENCH_RATE", 10).max(1);
    let probes = env("LINLI_BENCH_PROBES", 300).max(1);
    let dir = tempfile::tempdir().expect("tempdir");
    let street_ids: Vec<String> = (0..streets).map(|s| format!("lg-s{s}")).collect();
    let community_ids: Vec<String> = (0..communities).map(|c| format!("lg-s{}-c{c}", c % streets)).collect();
    let (district, district_url) = start(dir.path(), "lg", Tier::District, None, street_ids.clone()).await;
    let mut nodes = Vec::new();
    for (s, street) in street_ids.iter().enumerate() {
        let children = community_ids.iter().filter(|c| c.starts_with(&format!("lg-s{s}-"))).cloned().collect();
        let (_, url) = start(dir.path(), street, Tier::Street, Some(district_url.clone()), children).await;
        for community in community_ids.iter().filter(|c| c.starts_with(&format!("lg-s{s}-"))) {
            let (running, _) = start(dir.path(), community, Tier::Community, Some(url.clone()), Vec::new()).await;
            nodes.push((community.clone(), running));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Background load: every community writes `rate` requests a second.
    for (id, running) in &nodes {
        let (id, engine) = (id.clone(), running.engine.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate as u64));
            for i in 0.. {
                tick.tick().await;
                let _ = engine.write_async(request(&id, i)).await;
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut latencies = Vec::with_capacity(probes);
    for p in 0..probes {
        let (id, running) = &nodes[p % nodes.len()];
        let started = Instant::now();
        let key = running.engine.write_async(request(id, 1_000_000 + p)).await.expect("probe write").key;
        loop {
            if district.engine.get_async(key.clone()).await.expect("get").is_some() {
                break;
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("probe {p} never reached the district");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    latencies.sort();
    println!(
        "propagation community -> district, {communities} communities under {streets} streets, {rate} writes/s each, \
         {probes} probes: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.9).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    // The servers run until the process ends; their stores go with the directory.
    let size = dir_size(dir.path());
    println!("stores on disk: {:.0} MB for {} servers", size as f64 / 1e6, 1 + streets + communities);
    drop(dir);
    std::process::exit(0);
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
