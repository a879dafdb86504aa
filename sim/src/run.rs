//! One run in real mode: bring the district up, drive the workload against it with
//! its faults, let it settle, measure, check, report.

use crate::checks::{self, Check};
use crate::error::SimError;
use crate::faults::{self, Fault, FaultKind};
use crate::ledger::Ledger;
use crate::real::{Processes, RealDistrict};
use crate::report::{self, CatchUp, Report, Sample, SplitDone};
use crate::rng::Rng;
use crate::topology::Topology;
use crate::workload::{Clock, CommunityLoad, Decision, WAITS_MAX};
use linli_core::schema::Registries;
use linli_core::write::Write;
use linli_node::config::LinkLimits;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Where the district runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every node a real server: tonic over loopback, RocksDB in a temp directory.
    Real,
    /// The replica engine over a simulated network and clock, in-memory stores.
    Sim,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Real => "real",
            Mode::Sim => "sim",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub mode: Mode,
    pub topology: Topology,
    pub seed: u64,
    /// The workload's span: wall time in real mode, simulated time in sim mode.
    pub duration: Duration,
    /// Writes per second (of the run's time) of an average community.
    pub rate: f64,
    /// Seconds of the district's calendar per second of the run's time.
    pub speed: f64,
    /// Virtual time at the start, ms since the epoch.
    pub start_ms: i64,
    pub faults: Vec<Fault>,
    /// How long the district may take to settle after the workload, before the checks.
    pub settle: Duration,
    pub progress: bool,
    /// The command line that reproduces this run, for the report.
    pub command: String,
    /// Real mode: run every node as a child process (the nodes a `kill` fault names
    /// always are).
    pub all_processes: bool,
    /// Real mode: where `linli-node` and `linli-coordinator` are (default: beside this
    /// executable).
    pub bin_dir: Option<std::path::PathBuf>,
}

impl RunConfig {
    /// The nodes of a real run that run as child processes.
    pub fn processes(&self) -> Processes {
        let nodes = match self.all_processes {
            true => self.topology.node_ids().collect(),
            false => self.faults.iter().filter(|f| f.kind == FaultKind::Kill).map(|f| f.node.clone()).collect(),
        };
        Processes { nodes, bin_dir: self.bin_dir.clone() }
    }
}

/// Counters shared by the workload tasks.
#[derive(Default)]
pub struct Tally {
    pub acked: AtomicU64,
    pub waits: AtomicU64,
    pub abandoned: AtomicU64,
    pub refused: AtomicU64,
    pub down: AtomicU64,
}

/// Wall ms a step waits before it looks again at a record still replicating, or at
/// a node that is down.
const RETRY_WALL_MS: f64 = 500.0;
/// A propagation probe gives up after this long (a fault cut its path meanwhile).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Probes in a run at most; the report's percentiles come from them.
const PROBES_MAX: usize = 20_000;

/// The bounds of every link in a run, both modes: a real link's defaults, with a
/// quicker reconnect (a run compresses a day into minutes).
pub fn link_limits() -> LinkLimits {
    LinkLimits { backoff_ms_min: 50, backoff_ms_max: 2_000, ..LinkLimits::default() }
}

pub async fn run_real(config: RunConfig) -> Result<Report, SimError> {
    if config.faults.iter().any(|f| f.kind == FaultKind::Skew) {
        return Err(skew_unsupported());
    }
    let registries = Registries::defaults().map_err(|e| SimError::Run { reason: format!("the registries: {e}") })?;
    let dir = tempfile::Builder::new()
        .prefix("linli-sim-")
        .tempdir()
        .map_err(|e| SimError::Io { what: "creating the data directory".into(), source: e })?;
    let link = link_limits();
    let boot = Instant::now();
    let processes = config.processes();
    // The tree once the run's moves and splits are made.
    let final_tree = faults::final_topology(&config.topology, &config.faults)?;
    let district = Arc::new(
        RealDistrict::start(&config.topology, &final_tree, registries.clone(), link, dir.path(), &processes).await?,
    );
    let boot_ms = boot.elapsed().as_millis() as u64;
    eprintln!(
        "linli-sim: {} up: {} servers in {:.1} s, {} of them child processes (data in {})",
        config.topology.name,
        config.topology.node_count(),
        boot_ms as f64 / 1e3,
        processes.nodes.len(),
        dir.path().display()
    );

    let clock = Clock { start_ms: config.start_ms, speed: config.speed };
    let ledger = Arc::new(Mutex::new(Ledger::new(registries.clone())));
    let tally = Arc::new(Tally::default());
    let faulted: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let roster: Shared<Roster> = Arc::new(Mutex::new(Roster {
        streets: config
            .topology
            .streets
            .iter()
            .flat_map(|s| s.communities.iter().map(|c| (c.id.clone(), s.id.clone())))
            .collect(),
        retired: BTreeSet::new(),
    }));
    let started = Instant::now();
    let duration_ms = config.duration.as_millis() as f64;
    let end_virtual = clock.virtual_ms(duration_ms);
    let root = Rng::new(config.seed);

    // The district's own record, broadcast to every community: its service centre.
    let centre = Write::create(
        &config.topology.district,
        "sites",
        &[("kind", json!("district_centre")), ("name", json!("区党群服务中心")), ("open_24h", json!(true))],
    );
    if let Some(written) = district.write(&config.topology.district, centre.clone()).await? {
        lock(&ledger).acknowledge(&centre, &written)?;
        tally.acked.fetch_add(1, Ordering::Relaxed);
    }

    let mut workers = JoinSet::new();
    let arrivals_per_ms = config.rate / crate::workload::community::WRITES_PER_ARRIVAL / 1e3 / config.speed;
    for street in &config.topology.streets {
        for community in &street.communities {
            let load = CommunityLoad::new(
                community.clone(),
                &street.id,
                root.fork(&community.id),
                clock.start_ms,
                arrivals_per_ms,
            );
            let (district, ledger, tally, roster) = (district.clone(), ledger.clone(), tally.clone(), roster.clone());
            workers.spawn(drive(load, district, ledger, tally, roster, clock, started, end_virtual));
        }
    }
    // The communities a split makes start writing when it runs.
    for split in config.faults.iter().filter(|f| f.kind == FaultKind::Split) {
        for id in Topology::split_into(&split.node) {
            let street = final_tree.street_of(&id).unwrap_or_default().to_string();
            let profile = final_tree.community(&id).cloned().ok_or_else(|| SimError::NoNode { node: id.clone() })?;
            let from_ms = clock.virtual_ms(split.start_ms as f64);
            let load = CommunityLoad::new(profile, &street, root.fork(&id), from_ms, arrivals_per_ms);
            let (district, ledger, tally, roster) = (district.clone(), ledger.clone(), tally.clone(), roster.clone());
            workers.spawn(drive(load, district, ledger, tally, roster, clock, started, end_virtual));
        }
    }

    let stop_probes = Arc::new(AtomicBool::new(false));
    let probes = tokio::spawn(probe(
        district.clone(),
        config.topology.clone(),
        ledger.clone(),
        faulted.clone(),
        root.fork("probes"),
        clock,
        started,
        stop_probes.clone(),
    ));
    let faults = tokio::spawn(run_faults(
        config.faults.clone(),
        district.clone(),
        config.topology.clone(),
        faulted.clone(),
        roster.clone(),
        started,
    ));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = tokio::spawn(sample(
        district.clone(),
        config.topology.clone(),
        tally.clone(),
        started,
        config.duration,
        sampling.clone(),
        config.progress,
    ));

    while let Some(done) = workers.join_next().await {
        done.map_err(|e| SimError::Run { reason: format!("a workload task panicked: {e}") })??;
    }
    stop_probes.store(true, Ordering::SeqCst);
    let latencies = probes.await.map_err(|e| SimError::Run { reason: format!("probes: {e}") })??;
    let (catch_ups, splits) = faults.await.map_err(|e| SimError::Run { reason: format!("faults: {e}") })??;
    let workload_ms = started.elapsed().as_millis() as u64;

    let settle_started = Instant::now();
    let settled = settle(&district, &final_tree, config.settle).await?;
    let settle_ms = settle_started.elapsed().as_millis() as u64;
    sampling.store(false, Ordering::SeqCst);
    let samples = sampler.await.map_err(|e| SimError::Run { reason: format!("sampler: {e}") })??;
    let idle = idle_reconnect(&district, &final_tree).await?;

    let mut ledger = Arc::try_unwrap(ledger)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .map_err(|_| SimError::Run { reason: "the ledger is still shared after the workload ended".into() })?;
    split_ledger(&mut ledger, &config)?;
    let mut checks: Vec<Check> = vec![Check::new("settled", settled, format!("quiet after {settle_ms} ms"))];
    district.adopt_all().await?;
    checks.extend(checks::run_all(district.as_ref(), &final_tree, &ledger).await?);
    district.stop_all().await?;

    Ok(report::build(report::Inputs {
        config: &config,
        boot_ms,
        workload_ms,
        settle_ms,
        end_virtual_ms: end_virtual,
        tally: &tally,
        ledger_writes: ledger.writes(),
        records: ledger.records().len(),
        latencies,
        catch_ups,
        splits,
        idle,
        samples,
        bytes_on_links: district.bytes_on_links(),
        checks,
    }))
}

type Shared<T> = Arc<Mutex<T>>;

/// Who writes for whom, as moves and splits change it.
struct Roster {
    /// Each community's street now.
    streets: BTreeMap<String, String>,
    /// Communities split: they write no more.
    retired: BTreeSet<String>,
}

/// Lays every split of the run over the ledger (see [`Ledger::split`]).
pub fn split_ledger(ledger: &mut Ledger, config: &RunConfig) -> Result<(), SimError> {
    for split in config.faults.iter().filter(|f| f.kind == FaultKind::Split) {
        let profile =
            config.topology.community(&split.node).ok_or_else(|| SimError::NoNode { node: split.node.clone() })?;
        ledger.split(&Topology::split_rule(profile))?;
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs one community's schedule until the end of the run's virtual span.
#[allow(clippy::too_many_arguments)]
async fn drive(
    mut load: CommunityLoad,
    district: Arc<RealDistrict>,
    ledger: Arc<Mutex<Ledger>>,
    tally: Arc<Tally>,
    roster: Shared<Roster>,
    clock: Clock,
    started: Instant,
    end_virtual: i64,
) -> Result<(), SimError> {
    let retry_virtual_ms = (RETRY_WALL_MS * clock.speed) as i64;
    loop {
        let street = {
            let roster = lock(&roster);
            if roster.retired.contains(&load.id) {
                return Ok(());
            }
            roster.streets.get(&load.id).cloned()
        };
        if let Some(street) = street.filter(|s| *s != load.street) {
            load.set_street(&street);
        }
        let due = load.next_due_ms();
        if due >= end_virtual {
            return Ok(());
        }
        let wall = Duration::from_secs_f64(clock.wall_ms(due).max(0.0) / 1e3);
        if let Some(wait) = wall.checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let action = load.pop();
        let now_ms = clock.virtual_ms(started.elapsed().as_secs_f64() * 1e3);
        let record = match action.step.reads() {
            Some(key) => district.get(&action.writer, key).await?,
            None => None,
        };
        let write = match load.decide(&action, now_ms, record.as_ref()) {
            Decision::Write(write) => write,
            Decision::Skip => continue,
            Decision::Wait => {
                tally.waits.fetch_add(1, Ordering::Relaxed);
                if action.waits < WAITS_MAX {
                    load.retry(action, retry_virtual_ms);
                } else {
                    tally.abandoned.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
        };
        match district.write(&action.writer, write.clone()).await {
            Ok(Some(written)) => {
                lock(&ledger).acknowledge(&write, &written)?;
                tally.acked.fetch_add(1, Ordering::Relaxed);
                load.after(&action, &write, &written.key, now_ms);
            }
            Ok(None) => {
                tally.down.fetch_add(1, Ordering::Relaxed);
                load.retry(action, retry_virtual_ms);
            }
            // Refused: the record moved at the writer between the read and the write
            // (a peer's change arrived); the step looks again.
            Err(SimError::Node { node, source }) => {
                tracing::debug!(%node, step = action.step.name(), error = %source, "write refused");
                tally.refused.fetch_add(1, Ordering::Relaxed);
                if action.step.reads().is_some() && action.waits < WAITS_MAX {
                    load.retry(action, retry_virtual_ms);
                } else {
                    tally.abandoned.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(other) => return Err(other),
        }
    }
}

/// Writes one request at a time at a community whose path is not under a fault, and
/// times it until the district reads it: the propagation latency.
#[allow(clippy::too_many_arguments)]
async fn probe(
    district: Arc<RealDistrict>,
    topology: Topology,
    ledger: Arc<Mutex<Ledger>>,
    faulted: Arc<Mutex<BTreeSet<String>>>,
    mut rng: Rng,
    clock: Clock,
    started: Instant,
    stop: Arc<AtomicBool>,
) -> Result<Vec<(String, Duration)>, SimError> {
    let communities: Vec<(String, String)> =
        topology.streets.iter().flat_map(|s| s.communities.iter().map(|c| (s.id.clone(), c.id.clone()))).collect();
    let mut latencies = Vec::new();
    // Let every link come up before timing anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while !stop.load(Ordering::SeqCst) && latencies.len() < PROBES_MAX {
        let (street, community) = rng.pick(&communities).clone();
        let under_fault = {
            let faulted = lock(&faulted);
            [&community, &street, &topology.district].iter().any(|n| faulted.contains(n.as_str()))
        };
        if under_fault {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let now_ms = clock.virtual_ms(started.elapsed().as_secs_f64() * 1e3);
        let write = Write::create(
            &community,
            "requests",
            &[
                ("category", json!("other")),
                ("channel", json!("qr_code")),
                ("grid", json!("第1网格")),
                ("summary", json!(format!("探针 #{}", latencies.len()))),
                ("reported_at", json!(now_ms)),
            ],
        );
        let sent = Instant::now();
        let Some(written) = district.write(&community, write.clone()).await? else { continue };
        lock(&ledger).acknowledge(&write, &written)?;
        loop {
            if district.get(&topology.district, &written.key).await?.is_some() {
                latencies.push((street, sent.elapsed()));
                break;
            }
            if sent.elapsed() > PROBE_TIMEOUT || stop.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(latencies)
}

/// Applies each fault at its start and lifts it at its end; after a cut or crash of
/// a node, times how long its parent takes to catch up with what it wrote meanwhile.
async fn run_faults(
    faults: Vec<Fault>,
    district: Arc<RealDistrict>,
    topology: Topology,
    faulted: Arc<Mutex<BTreeSet<String>>>,
    roster: Shared<Roster>,
    started: Instant,
) -> Result<(Vec<CatchUp>, Vec<SplitDone>), SimError> {
    let mut splits = Vec::new();
    // (at, is_end, index): ends before starts at the same instant.
    let mut events: Vec<(u64, bool, usize)> =
        faults.iter().enumerate().flat_map(|(i, f)| [(f.start_ms, false, i), (f.end_ms, true, i)]).collect();
    events.sort_by_key(|(at, is_end, i)| (*at, !is_end, *i));
    let mut catch_ups = JoinSet::new();
    for (at, is_end, i) in events {
        let fault = &faults[i];
        if let Some(wait) = Duration::from_millis(at).checked_sub(started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        let node = fault.node.as_str();
        if fault.kind == FaultKind::Split {
            if is_end {
                continue;
            }
            let profile = topology.community(node).ok_or_else(|| SimError::NoNode { node: node.to_string() })?;
            let rule = Topology::split_rule(profile);
            let street = {
                let mut roster = lock(&roster);
                roster.retired.insert(node.to_string());
                let street = roster.streets.get(node).cloned().unwrap_or_default();
                for id in Topology::split_into(node) {
                    roster.streets.insert(id, street.clone());
                }
                street
            };
            tracing::info!(node, street, "split");
            lock(&faulted).insert(node.to_string());
            let splitting = Instant::now();
            let report = district.split(node, &street, &rule).await?;
            splits.push(SplitDone {
                community: node.to_string(),
                street,
                moved: report.moved,
                left: report.left,
                time_ms: splitting.elapsed().as_secs_f64() * 1e3,
            });
            continue;
        }
        if fault.kind == FaultKind::Move {
            if is_end {
                continue;
            }
            let to = fault.to.clone().unwrap_or_default();
            let from = lock(&roster).streets.insert(node.to_string(), to.clone()).unwrap_or_default();
            tracing::info!(node, from, to, "move");
            // Probes leave it alone from now on: their street for it would be the old one.
            lock(&faulted).insert(node.to_string());
            district.reparent(node, &from, &to, &topology.district).await?;
            let (district, node) = (district.clone(), node.to_string());
            catch_ups.spawn(async move { catch_up(&district, &node, &to, FaultKind::Move, 0).await });
            continue;
        }
        if !is_end {
            tracing::info!(kind = ?fault.kind, node, "fault starts");
            lock(&faulted).insert(node.to_string());
            match fault.kind {
                FaultKind::Cut => district.proxy(node)?.cut(),
                FaultKind::Delay => district.proxy(node)?.set_delay_ms(fault.delay_ms),
                FaultKind::Loss => district.proxy(node)?.set_loss_pct(fault.loss_pct),
                FaultKind::Crash => district.stop(node).await?,
                FaultKind::Kill => district.kill(node).await?,
                FaultKind::Wipe => district.wipe(node).await?,
                FaultKind::Skew => return Err(skew_unsupported()),
                FaultKind::Move | FaultKind::Split => {}
            }
            continue;
        }
        tracing::info!(kind = ?fault.kind, node, "fault lifted");
        match fault.kind {
            FaultKind::Cut => district.proxy(node)?.heal(),
            FaultKind::Delay => district.proxy(node)?.set_delay_ms(0),
            FaultKind::Loss => district.proxy(node)?.set_loss_pct(0.0),
            FaultKind::Crash | FaultKind::Kill | FaultKind::Wipe => district.restart(node).await?,
            FaultKind::Skew => return Err(skew_unsupported()),
            FaultKind::Move | FaultKind::Split => {}
        }
        lock(&faulted).remove(node);
        let parent = match lock(&roster).streets.get(node) {
            Some(street) => Some(street.clone()),
            None => parent_of(&topology, node),
        };
        if let Some(parent) = parent {
            let (district, node, kind) = (district.clone(), node.to_string(), fault.kind);
            let down_ms = fault.end_ms - fault.start_ms;
            catch_ups.spawn(async move { catch_up(&district, &node, &parent, kind, down_ms).await });
        }
    }
    let mut done = Vec::new();
    while let Some(result) = catch_ups.join_next().await {
        if let Some(catch_up) =
            result.map_err(|e| SimError::Run { reason: format!("a catch-up task panicked: {e}") })??
        {
            done.push(catch_up);
        }
    }
    done.sort_by(|a, b| a.node.cmp(&b.node));
    Ok((done, splits))
}

pub fn skew_unsupported() -> SimError {
    SimError::Unsupported {
        what: "a clock skew".into(),
        mode: "real",
        why: "every server of a real run reads this machine's clock; use --mode sim".into(),
    }
}

pub fn parent_of(topology: &Topology, node: &str) -> Option<String> {
    if topology.streets.iter().any(|s| s.id == node) {
        return Some(topology.district.clone());
    }
    topology.street_of(node).map(str::to_string)
}

/// Catch-up gives up after this long; the settle phase and the checks still run.
const CATCH_UP_MAX: Duration = Duration::from_secs(120);

async fn catch_up(
    district: &RealDistrict,
    node: &str,
    parent: &str,
    kind: FaultKind,
    down_ms: u64,
) -> Result<Option<CatchUp>, SimError> {
    let Some(target) = district.log_end(node).await? else { return Ok(None) };
    let bytes_before = district.proxy(node)?.bytes();
    let healed = Instant::now();
    loop {
        let applied = district.links(parent).await?.get(node).map_or(0, |s| s.applied_through);
        if applied >= target {
            return Ok(Some(CatchUp {
                node: node.to_string(),
                kind,
                down_ms,
                log_entries: target,
                time_ms: healed.elapsed().as_secs_f64() * 1e3,
                bytes: district.proxy(node)?.bytes() - bytes_before,
            }));
        }
        if healed.elapsed() > CATCH_UP_MAX {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether every link has applied its peer's whole log, both ways; polled until it
/// holds twice in a row or `timeout` passes.
async fn settle(district: &RealDistrict, topology: &Topology, timeout: Duration) -> Result<bool, SimError> {
    let deadline = Instant::now() + timeout;
    let mut quiet_once = false;
    while Instant::now() < deadline {
        let quiet = links_quiet(district, topology).await?;
        if quiet && quiet_once {
            return Ok(true);
        }
        quiet_once = quiet;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(false)
}

async fn links_quiet(district: &RealDistrict, topology: &Topology) -> Result<bool, SimError> {
    for (node, _) in district.nodes() {
        let Some(parent) = parent_of(topology, node) else { continue };
        let (Some((child_end, child_links)), Some((parent_end, parent_links))) =
            (district.log_and_links(node).await?, district.log_and_links(&parent).await?)
        else {
            return Ok(false);
        };
        let at_parent = parent_links.get(node).map_or(0, |s| s.applied_through);
        let at_child = child_links.get(&parent).map_or(0, |s| s.applied_through);
        if at_parent < child_end || at_child < parent_end {
            return Ok(false);
        }
    }
    Ok(true)
}

/// An idle link cut and healed: bytes and time until its parent has it back.
async fn idle_reconnect(district: &RealDistrict, topology: &Topology) -> Result<Option<report::Idle>, SimError> {
    let Some(community) = topology.communities().next().map(|c| c.id.clone()) else { return Ok(None) };
    let Some(street) = topology.street_of(&community).map(str::to_string) else { return Ok(None) };
    let sessions = |links: &std::collections::BTreeMap<String, linli_node::link::status::LinkStatus>| {
        links.get(&community).map(|s| (s.sessions, s.connected))
    };
    let before = sessions(&district.links(&street).await?).map_or(0, |s| s.0);
    let proxy = district.proxy(&community)?;
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bytes_before = proxy.bytes();
    let healed = Instant::now();
    proxy.heal();
    while healed.elapsed() < Duration::from_secs(30) {
        if let Some((n, true)) = sessions(&district.links(&street).await?)
            && n > before
        {
            // Let the session's first round trip finish before counting.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return Ok(Some(report::Idle {
                node: community,
                time_ms: healed.elapsed().as_secs_f64() * 1e3 - 200.0,
                bytes: proxy.bytes() - bytes_before,
            }));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(None)
}

/// Once a second: memory, bytes, writes, and each street's lag at the district; and
/// the progress line.
async fn sample(
    district: Arc<RealDistrict>,
    topology: Topology,
    tally: Arc<Tally>,
    started: Instant,
    duration: Duration,
    running: Arc<AtomicBool>,
    progress: bool,
) -> Result<Vec<Sample>, SimError> {
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while running.load(Ordering::SeqCst) {
        tick.tick().await;
        let links = district.links(&topology.district).await?;
        let lag = topology
            .streets
            .iter()
            .map(|s| links.get(&s.id).map_or(0, |l| l.peer_log_end.saturating_sub(l.applied_through)))
            .collect();
        let sample = Sample {
            at_ms: started.elapsed().as_millis() as u64,
            acked: tally.acked.load(Ordering::Relaxed),
            bytes: district.bytes_on_links(),
            rss_bytes: report::rss_bytes() + district.processes_rss_bytes(),
            street_lag: lag,
        };
        if progress {
            report::progress(&sample, duration, samples.last());
        }
        samples.push(sample);
    }
    if progress {
        eprintln!();
    }
    Ok(samples)
}
