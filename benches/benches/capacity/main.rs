//! What one coordinator carries: the real `linli-coordinator` process (RocksDB, views,
//! its links), pinned to one core, fed over plaintext gRPC on loopback by children
//! running in this process (pinned to the other core).
//!
//! - `LINLI_BENCH_TIER=district` (the default): 11 street servers feed a district. No
//!   community server runs: synthetic communities ([`feed::Community`]) write a
//!   Longgang-like mix into in-memory replicas, and their log batches are applied at
//!   the streets as community links would apply them.
//! - `LINLI_BENCH_TIER=street`: 10 community servers feed a street, writing the same
//!   mix through their engines.
//!
//! Two figures each:
//! 1. **Sustained durable changes/s.** The children first take a backlog while the
//!    measured node is down; then it starts and they ship it all. The figure is the
//!    backlog's changes over the time until it has applied (synced) every child's log,
//!    with its CPU time over the same span, start-up included.
//! 2. **Latency added at Longgang's stress load.** The children write at
//!    `LINLI_BENCH_RATE` changes/s in all (1,110 by default); probes (a new request,
//!    durable at a child) are timed until readable at the measured node.
//!
//! `cargo build --release -p linli-node -p linli-coordinator && cargo bench -p
//! linli-benches --bench capacity` (env: `LINLI_BENCH_TIER`; `LINLI_BENCH_STREETS`,
//! default 11; `LINLI_BENCH_COMMUNITIES`, per street, default 10;
//! `LINLI_BENCH_BACKLOG`, changes per child, default 4,000; `LINLI_BENCH_RATE`,
//! default 1,110; `LINLI_BENCH_SECONDS`, the stress phase, default 20).

mod feed;
mod feeder;

use feeder::Feeder;

use linli_core::ids::RecordKey;
use linli_core::schema::Registries;
use linli_node::config::{LinkLimits, ServerConfig, Tier, Transport};
use linli_sim::real::process::{Binaries, NodeProcess, free_addr};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const DISTRICT: &str = "lg";

pub fn config(
    dir: &Path,
    id: &str,
    tier: Tier,
    listen: SocketAddr,
    parent: Option<String>,
    children: Vec<String>,
) -> ServerConfig {
    ServerConfig {
        id: id.into(),
        tier,
        listen,
        data_dir: dir.join(id),
        parent,
        children,
        registries_dir: None,
        backup_dir: None,
        metrics_listen: None,
        console_listen: None,
        // The streets retry their parent often while it is down, so the district's
        // start, not a backoff, begins the drain.
        link: LinkLimits { backoff_ms_min: 20, backoff_ms_max: 100, ..LinkLimits::default() },
        memory: Default::default(),
        forget: Vec::new(),
        subtrees: Default::default(),
        clock: Default::default(),
        transport: Transport::Plaintext,
    }
}

/// Pins every thread of `pid` to `cpu`, when the machine has it (`taskset`).
fn pin(pid: u32, cpu: usize) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// User and system CPU time of `pid` so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th
    // and 13th of them, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    Duration::from_millis(ticks * 10)
}

/// Waits until `node` has applied every child's log through its end.
async fn drained(node: &NodeProcess, children: &[Feeder]) -> Instant {
    let ends: Vec<u64> = children.iter().map(Feeder::log_end).collect();
    let waited = Instant::now();
    loop {
        let (_, links) = node.links().await.expect("links");
        let done =
            children.iter().zip(&ends).all(|(c, end)| links.get(c.id()).is_some_and(|l| l.applied_through >= *end));
        if done {
            return Instant::now();
        }
        assert!(waited.elapsed() < Duration::from_secs(900), "the measured node never drained its children's logs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let tier = std::env::var("LINLI_BENCH_TIER").unwrap_or_else(|_| "district".into());
    let streets_n = env("LINLI_BENCH_STREETS", 11).max(1);
    let per_street = env("LINLI_BENCH_COMMUNITIES", 10).max(1);
    let backlog = env("LINLI_BENCH_BACKLOG", 4_000).max(1);
    let rate = env("LINLI_BENCH_RATE", 1_110).max(1);
    let seconds = env("LINLI_BENCH_SECONDS", 20).max(1);
    let bins = Binaries::find(None).expect("build linli-node and linli-coordinator first (cargo build --release)");
    let registries = Registries::defaults().expect("registries");
    let pinned = pin(std::process::id(), 0);

    let dir = tempfile::tempdir().expect("tempdir");
    let node_addr = free_addr().expect("address");
    let (node_config, mut children) = match tier.as_str() {
        "district" => {
            let mut streets = Vec::new();
            for s in 0..streets_n {
                let id = format!("lg-s{s:02}");
                let communities: Vec<String> = (0..per_street).map(|c| format!("{id}-c{c:02}")).collect();
                streets.push(Feeder::street(dir.path(), &id, node_addr, communities, &registries).await);
            }
            let ids = streets.iter().map(|s| s.id().to_string()).collect();
            (config(dir.path(), DISTRICT, Tier::District, node_addr, None, ids), streets)
        }
        "street" => {
            let id = "lg-s00";
            let mut communities = Vec::new();
            for c in 0..per_street {
                communities.push(Feeder::community(dir.path(), &format!("{id}-c{c:02}"), node_addr).await);
            }
            let ids = communities.iter().map(|c| c.id().to_string()).collect();
            // Its parent never answers: the street's uplink waits, at its backoff.
            let parent = format!("http://{}", free_addr().expect("address"));
            (config(dir.path(), id, Tier::Street, node_addr, Some(parent), ids), communities)
        }
        other => panic!("LINLI_BENCH_TIER: '{other}' is neither district nor street"),
    };
    let what = format!(
        "{} (under test) and {} {}",
        node_config.id,
        children.len(),
        if tier == "district" { "streets" } else { "communities" }
    );

    // The backlog, taken by the children while the measured node is down.
    let recorded = Instant::now();
    let mut changes = 0;
    for child in &mut children {
        let mut written = 0;
        while written < backlog {
            written += child.write(10).await;
        }
        changes += written;
    }
    eprintln!("backlog: {changes} changes at {what}, written in {:.0} s", recorded.elapsed().as_secs_f64());

    // The measured node starts; its children ship their logs.
    let started = Instant::now();
    let node = NodeProcess::spawn(&bins, &node_config, registries.clone()).await.expect("measured node");
    let pid = node.pid().expect("pid");
    let pinned = pinned && pin(pid, 1);
    let done = drained(&node, &children).await;
    // Both from before the process started: its start-up counts against it.
    let (elapsed, cpu) = (done - started, cpu_time(pid));
    println!(
        "{tier} capacity, {what}: {changes} changes applied durably in {:.1} s: {:.0} changes/s; \
         CPU {:.1} s ({:.2} cores, {:.0} µs a change){}",
        elapsed.as_secs_f64(),
        changes as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / changes as f64,
        if pinned { ", pinned to one core, the children to the other" } else { " (not pinned: no taskset)" }
    );

    // The stress load: the children write their share of `rate` each 100 ms tick,
    // and on its turn a child times a probe from durable there to readable at the
    // measured node.
    let node = std::sync::Arc::new(node);
    let children_n = children.len();
    let per_tick = rate / 10;
    let cpu_before = cpu_time(pid);
    let stress_started = Instant::now();
    let tasks: Vec<_> = children
        .into_iter()
        .enumerate()
        .map(|(c, mut child)| {
            let node = node.clone();
            tokio::spawn(async move {
                let (mut written, mut probes) = (0, Vec::new());
                for tick in 0..seconds * 10 {
                    tokio::time::sleep_until((stress_started + Duration::from_millis(100 * tick as u64)).into()).await;
                    // This child's share of the tick, the remainder going round.
                    let index = (c + tick) % children_n;
                    written += child.tick(per_tick / children_n + usize::from(index < per_tick % children_n)).await;
                    if tick % children_n == c {
                        let (key, changes) = child.probe().await;
                        written += changes;
                        let node = node.clone();
                        probes.push(tokio::spawn(async move { readable(&node, &key).await }));
                    }
                }
                let mut latencies = Vec::new();
                for probe in probes {
                    latencies.push(probe.await.expect("probe"));
                }
                (written, latencies)
            })
        })
        .collect();
    let (mut written, mut latencies) = (0, Vec::new());
    for task in tasks {
        let (w, l) = task.await.expect("child load");
        written += w;
        latencies.extend(l);
    }
    let stress = stress_started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    latencies.sort();
    println!(
        "{tier} at {:.0} changes/s for {:.0} s (CPU {:.2} cores): durable at a child to readable at the {tier} \
         p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} probes)",
        written as f64 / stress.as_secs_f64(),
        stress.as_secs_f64(),
        cpu.as_secs_f64() / stress.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        latencies.len()
    );
    if let Ok(node) = std::sync::Arc::try_unwrap(node) {
        let _ = node.terminate().await;
    }
    // The children run until the process ends; their stores go with the directory
    // (`exit` would skip its drop and leave a gigabyte behind).
    drop(dir);
    std::process::exit(0);
}

/// How often a probe asks the node under test. Every ask is a `Registry.Get` its engine
/// serves between batches: at 1 ms, ten probes a second of 100 ms each made a thousand
/// calls a second and took a share of the core the bench measures.
const PROBE_POLL_MS: u64 = 5;

/// How long until `node` reads `key` (to within [`PROBE_POLL_MS`]).
async fn readable(node: &NodeProcess, key: &RecordKey) -> Duration {
    let started = Instant::now();
    loop {
        if node.get(key).await.expect("get").is_some() {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "a probe never arrived");
        tokio::time::sleep(Duration::from_millis(PROBE_POLL_MS)).await;
    }
}
