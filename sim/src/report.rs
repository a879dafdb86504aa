//! The run's report: a progress line while it runs, a summary table at the end, and
//! `report.json` plus `report.html` (see [`crate::html`]) in the output directory.

use crate::checks::Check;
use crate::faults::{Fault, FaultKind};
use crate::run::{RunConfig, Tally};
use serde::Serialize;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at_ms: u64,
    pub acked: u64,
    pub bytes: u64,
    pub rss_bytes: u64,
    /// The most entries any node's log held (its end less what it trimmed).
    pub log_entries_max: u64,
    /// The most entries any node's log ever took (its end).
    pub log_written_max: u64,
    /// Per street, in the topology's order: log entries the district has not applied.
    pub street_lag: Vec<u64>,
    /// Per street: how long the district has been behind it, in ms (see `driver::Lag`).
    pub street_lag_ms: Vec<u64>,
}

/// One tier's memory at a probe of a real run (see `real::memory`): the servers that
/// run as processes, summed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryParts {
    /// Seconds since the run started.
    pub at_s: f64,
    pub tier: String,
    /// Servers of the tier that answered the probe.
    pub servers: usize,
    pub resident_bytes: u64,
    /// The document caches, by their estimate (bounded by `--doc-cache-mib`).
    pub documents_bytes: u64,
    /// RocksDB's write buffers, block cache and open table files.
    pub store_bytes: u64,
    /// The decoded newest log entries (bounded by `--log-cache-mib`).
    pub log_cache_bytes: u64,
    /// The views' entries (they grow with groups and open records, not bounded by a
    /// cache).
    pub view_entries: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatchUp {
    pub node: String,
    pub kind: FaultKind,
    pub down_ms: u64,
    /// The node's log end when its fault was lifted.
    pub log_entries: u64,
    /// Of those, the entries its parent had not applied then: what the catch-up carried.
    pub behind_entries: u64,
    /// From the link's return until its parent had applied the node's log.
    pub time_ms: f64,
    /// Until the district had applied it too (through the street, for a community):
    /// when an operator reads what was written under the fault.
    pub district_ms: f64,
    /// The node's uplink bytes over `time_ms`.
    pub bytes: u64,
    /// The changes of the entries behind, compressed with zstd in one stream, where
    /// the simulator could read them: what `bytes` is held against.
    pub changes_zstd_bytes: Option<u64>,
}

/// Entries read for [`CatchUp::changes_zstd_bytes`] at most (bounded memory); a larger
/// catch-up is measured on its first entries only, and reads as cheaper than it is.
pub const ZSTD_ENTRIES_MAX: usize = 200_000;

/// The size of `changes` compressed with zstd at level 3 (tonic's default) in one
/// stream. `None` if zstd fails (it does not on bytes in memory).
pub fn zstd_bytes<'a>(changes: impl Iterator<Item = &'a [u8]>) -> Option<u64> {
    let mut all = Vec::new();
    for change in changes {
        all.extend_from_slice(change);
    }
    zstd::bulk::compress(&all, 3).ok().map(|c| c.len() as u64)
}

/// A split the run made: what moved where, and how long the old community's hand-over
/// and the split took.
#[derive(Debug, Clone, Serialize)]
pub struct SplitDone {
    pub community: String,
    pub street: String,
    pub moved: std::collections::BTreeMap<String, usize>,
    pub left: usize,
    pub time_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub node: String,
    pub time_ms: f64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub topology: String,
    pub mode: String,
    pub seed: u64,
    pub servers: usize,
    pub streets: Vec<String>,
    pub command: String,
    pub rate_writes_per_s: f64,
    pub speed: f64,
    pub duration_s: f64,
    pub virtual_hours: f64,
    pub boot_ms: u64,
    pub settle_ms: u64,
    pub writes_acked: u64,
    pub writes_per_s: f64,
    pub records: usize,
    pub steps_waited: u64,
    pub steps_abandoned: u64,
    pub writes_refused: u64,
    pub writes_at_down_nodes: u64,
    pub propagation: Option<Percentiles>,
    /// The same probes, timed until the community's watermark said the district holds
    /// them durably (the parent's Acks), not until a read found them there.
    pub propagation_durable: Option<Percentiles>,
    /// Propagation sorted, for the CDF plot (ms).
    pub propagation_ms: Vec<f64>,
    pub catch_ups: Vec<CatchUp>,
    pub splits: Vec<SplitDone>,
    pub idle_reconnect: Option<Idle>,
    pub bytes_on_links: u64,
    pub rss_bytes_max: u64,
    /// The most entries any node's log held at a sample, and the most any node's
    /// log ever took by the last sample.
    pub log_entries_max: u64,
    pub log_written_max: u64,
    pub faults: Vec<Fault>,
    pub samples: Vec<Sample>,
    /// Real mode: each tier's memory by part, every `real::memory::PROBE_EVERY`
    /// (servers that run as processes only; empty in sim mode).
    pub memory_by_part: Vec<MemoryParts>,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

pub struct Inputs<'a> {
    pub config: &'a RunConfig,
    pub boot_ms: u64,
    pub workload_ms: u64,
    pub settle_ms: u64,
    pub end_virtual_ms: i64,
    pub tally: &'a Tally,
    pub ledger_writes: u64,
    pub records: usize,
    pub latencies: Vec<(String, Duration)>,
    /// Probes until their community's watermark at the district covered them.
    pub durable_latencies: Vec<Duration>,
    pub catch_ups: Vec<CatchUp>,
    pub splits: Vec<SplitDone>,
    pub idle: Option<Idle>,
    pub samples: Vec<Sample>,
    pub bytes_on_links: u64,
    pub checks: Vec<Check>,
}

/// Percentiles of `durations`, in ms, and the ms sorted.
fn percentiles<'a>(durations: impl Iterator<Item = &'a Duration>) -> (Option<Percentiles>, Vec<f64>) {
    let mut ms: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let percentiles = (!ms.is_empty()).then(|| Percentiles {
        count: ms.len(),
        p50_ms: percentile(&ms, 0.50),
        p90_ms: percentile(&ms, 0.90),
        p99_ms: percentile(&ms, 0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    });
    (percentiles, ms)
}

pub fn build(inputs: Inputs<'_>) -> Report {
    let config = inputs.config;
    let (propagation, ms) = percentiles(inputs.latencies.iter().map(|(_, d)| d));
    let (propagation_durable, _) = percentiles(inputs.durable_latencies.iter());
    let duration_s = inputs.workload_ms as f64 / 1e3;
    Report {
        topology: config.topology.name.clone(),
        mode: config.mode.as_str().into(),
        seed: config.seed,
        servers: crate::faults::final_topology(&config.topology, &config.faults)
            .map_or(config.topology.node_count(), |tree| tree.node_count()),
        streets: config.topology.streets.iter().map(|s| s.id.clone()).collect(),
        command: config.command.clone(),
        rate_writes_per_s: config.rate,
        speed: config.speed,
        duration_s,
        virtual_hours: (inputs.end_virtual_ms - config.start_ms) as f64 / 3.6e6,
        boot_ms: inputs.boot_ms,
        settle_ms: inputs.settle_ms,
        writes_acked: inputs.tally.acked.load(Ordering::Relaxed).max(inputs.ledger_writes),
        writes_per_s: inputs.ledger_writes as f64 / duration_s.max(1e-3),
        records: inputs.records,
        steps_waited: inputs.tally.waits.load(Ordering::Relaxed),
        steps_abandoned: inputs.tally.abandoned.load(Ordering::Relaxed),
        writes_refused: inputs.tally.refused.load(Ordering::Relaxed),
        writes_at_down_nodes: inputs.tally.down.load(Ordering::Relaxed),
        propagation,
        propagation_durable,
        propagation_ms: ms,
        catch_ups: inputs.catch_ups,
        splits: inputs.splits,
        idle_reconnect: inputs.idle,
        bytes_on_links: inputs.bytes_on_links,
        rss_bytes_max: inputs.samples.iter().map(|s| s.rss_bytes).max().unwrap_or(0),
        log_entries_max: inputs.samples.iter().map(|s| s.log_entries_max).max().unwrap_or(0),
        log_written_max: inputs.samples.iter().map(|s| s.log_written_max).max().unwrap_or(0),
        faults: config.faults.clone(),
        samples: inputs.samples,
        memory_by_part: Vec::new(),
        checks: inputs.checks,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Resident memory of this process (every server of a real run), from /proc.
pub fn rss_bytes() -> u64 {
    linli_node::metrics::resident_bytes_of("/proc/self/status")
}

/// One line, rewritten in place: a bar, writes per second, the worst street lag, memory.
pub fn progress(sample: &Sample, duration: Duration, previous: Option<&Sample>) {
    let total = duration.as_millis().max(1) as u64;
    let done = (sample.at_ms.min(total) * 30 / total) as usize;
    let rate = previous.map_or(0, |p| sample.acked.saturating_sub(p.acked) * 1000 / (sample.at_ms - p.at_ms).max(1));
    let lag = sample.street_lag.iter().max().copied().unwrap_or(0);
    let lag_s = sample.street_lag_ms.iter().max().copied().unwrap_or(0) as f64 / 1000.0;
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] {:>4} s  {:>8} writes  {:>6} w/s  lag max {:>5} entries {:>5.1} s  rss {:>5} MB ",
        "#".repeat(done),
        ".".repeat(30 - done),
        sample.at_ms / 1000,
        sample.acked,
        rate,
        lag,
        lag_s,
        sample.rss_bytes >> 20
    );
    let _ = err.flush();
}

/// The summary table for the terminal.
pub fn summary(report: &Report) -> String {
    let mut rows: Vec<(String, String)> = vec![
        (
            "topology".into(),
            format!("{} ({} servers, mode {}, seed {})", report.topology, report.servers, report.mode, report.seed),
        ),
        (
            "workload".into(),
            format!(
                "{:.0} s {} = {:.1} h of district time; {} writes acknowledged ({:.0}/s), {} records",
                report.duration_s,
                if report.mode == "sim" { "simulated" } else { "wall" },
                report.virtual_hours,
                report.writes_acked,
                report.writes_per_s,
                report.records
            ),
        ),
        (
            "steps".into(),
            format!(
                "{} waited for replication, {} abandoned, {} refused and retried, {} met a down node",
                report.steps_waited, report.steps_abandoned, report.writes_refused, report.writes_at_down_nodes
            ),
        ),
    ];
    if let Some(p) = &report.propagation {
        rows.push((
            "propagation".into(),
            format!(
                "community -> district, {} probes: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            ),
        ));
    }
    if let Some(p) = &report.propagation_durable {
        rows.push((
            "durable at district".into(),
            format!(
                "the same probes until the community's watermark covered them, {} probes: p50 {:.1} ms, p90 {:.1} \
                 ms, p99 {:.1} ms, max {:.1} ms",
                p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
            ),
        ));
    }
    if let Some(worst) = report.samples.iter().max_by_key(|s| s.street_lag_ms.iter().max().copied().unwrap_or(0)) {
        let entries_max = report.samples.iter().flat_map(|s| s.street_lag.iter()).max().copied().unwrap_or(0);
        let ms_max = worst.street_lag_ms.iter().max().copied().unwrap_or(0);
        rows.push((
            "lag".into(),
            format!(
                "the district behind a street, over {} samples: at most {entries_max} entries, at most {:.1} s \
                 (at {} s of the run)",
                report.samples.len(),
                ms_max as f64 / 1e3,
                worst.at_ms / 1000
            ),
        ));
    }
    for c in &report.catch_ups {
        rows.push((
            "catch-up".into(),
            format!(
                "{} after {:?} of {:.1} s: its log through {} ({} behind) applied at its parent {:.0} ms after, at \
                 the district {:.0} ms after, {} bytes{}",
                c.node,
                c.kind,
                c.down_ms as f64 / 1e3,
                c.log_entries,
                c.behind_entries,
                c.time_ms,
                c.district_ms,
                c.bytes,
                match c.changes_zstd_bytes {
                    Some(z) if z > 0 =>
                        format!(" ({:.2}x the {z} bytes of its changes in zstd)", c.bytes as f64 / z as f64),
                    _ => String::new(),
                }
            ),
        ));
    }
    for split in &report.splits {
        let moved: Vec<String> = split.moved.iter().map(|(to, n)| format!("{n} to {to}")).collect();
        rows.push((
            "split".into(),
            format!(
                "{} at {}: {} records moved ({}), {} left, in {:.0} ms with its hand-over",
                split.community,
                split.street,
                split.moved.values().sum::<usize>(),
                moved.join(", "),
                split.left,
                split.time_ms
            ),
        ));
    }
    if let Some(idle) = &report.idle_reconnect {
        rows.push(("idle reconnect".into(), format!("{}: {} bytes, {:.0} ms", idle.node, idle.bytes, idle.time_ms)));
    }
    rows.push(("bytes on links".into(), format!("{:.1} MB", report.bytes_on_links as f64 / 1e6)));
    let (held, written) = (report.log_entries_max, report.log_written_max);
    let log = format!("{held} entries held at most by a node's log at a sample, of up to {written} written");
    rows.push(("log".into(), log));
    if report.mode != "sim" {
        rows.push(("memory".into(), format!("{} MB resident at most, all servers", report.rss_bytes_max >> 20)));
    }
    rows.extend(memory_rows(&report.memory_by_part));
    rows.push(("settle".into(), format!("{} ms after the workload", report.settle_ms)));
    for check in &report.checks {
        let mark = if check.passed { "ok  " } else { "FAIL" };
        rows.push((format!("check {mark}"), format!("{}: {}", check.name, check.detail)));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter().map(|(k, v)| format!("{k:<width$}  {v}\n")).collect()
}

/// Per tier, its memory by part at the middle probe and at the last: whether each
/// part levelled off over the second half of the run.
fn memory_rows(probes: &[MemoryParts]) -> Vec<(String, String)> {
    let (Some(first), Some(last)) = (probes.first(), probes.last()) else { return Vec::new() };
    let middle_s = (first.at_s + last.at_s) / 2.0;
    let at = |tier: &str, pick: &dyn Fn(f64) -> bool| probes.iter().rev().find(|p| p.tier == tier && pick(p.at_s));
    let mb = |bytes: u64| bytes as f64 / 1e6;
    let mut rows = Vec::new();
    for tier in probed_tiers(probes) {
        let (Some(from), Some(to)) = (at(tier, &|s| s <= middle_s), at(tier, &|_| true)) else { continue };
        rows.push((
            format!("memory, {tier}"),
            format!(
                "{} servers, {:.0} s -> {:.0} s: resident {:.1} -> {:.1} MB, documents {:.1} -> {:.1} MB, store \
                 {:.1} -> {:.1} MB, decoded log {:.1} -> {:.1} MB, views {} -> {} entries",
                to.servers,
                from.at_s,
                to.at_s,
                mb(from.resident_bytes),
                mb(to.resident_bytes),
                mb(from.documents_bytes),
                mb(to.documents_bytes),
                mb(from.store_bytes),
                mb(to.store_bytes),
                mb(from.log_cache_bytes),
                mb(to.log_cache_bytes),
                from.view_entries,
                to.view_entries
            ),
        ));
    }
    rows
}

/// The tiers the memory probes cover, each once, in name order.
pub fn probed_tiers(probes: &[MemoryParts]) -> Vec<&str> {
    let mut tiers: Vec<&str> = probes.iter().map(|p| p.tier.as_str()).collect();
    tiers.sort_unstable();
    tiers.dedup();
    tiers
}

/// Writes `report.json` and `report.html` into `dir`.
pub fn write(report: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("report.json"), json)?;
    std::fs::write(dir.join("report.html"), crate::html::page(report))
}
