//! A run's configuration, and one run in real mode: the district's servers brought
//! up, then the run driver ([`crate::driver`]) against them.

use crate::driver;
use crate::error::SimError;
use crate::faults::{self, Fault, FaultKind};
use crate::ledger::Ledger;
use crate::real::driven::RealRun;
use crate::real::{Processes, RealDistrict, memory};
use crate::report::Report;
use crate::topology::Topology;
use linli_core::schema::Registries;
use linli_node::config::{LinkLimits, MemoryLimits};
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Real mode: no TLS (`--plaintext`); by default every link and call is mutual TLS
    /// with certificates of a CA made for the run.
    pub plaintext: bool,
    /// Real mode: what every server may hold in memory (`--doc-cache-mib`,
    /// `--write-buffers-mib`, `--log-cache-mib`).
    pub memory: MemoryLimits,
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

/// What became of the workload's steps.
#[derive(Default)]
pub struct Tally {
    pub acked: AtomicU64,
    pub waits: AtomicU64,
    pub abandoned: AtomicU64,
    pub refused: AtomicU64,
    pub down: AtomicU64,
}

/// The bounds of every link in a run, both modes: a real link's defaults, with a
/// quicker reconnect (a run compresses a day into minutes).
pub fn link_limits() -> LinkLimits {
    LinkLimits { backoff_ms_min: 50, backoff_ms_max: 2_000, ..LinkLimits::default() }
}

/// What every server of a real run is configured with: its links' bounds and what it
/// may hold in memory.
#[derive(Debug, Clone)]
pub struct NodeLimits {
    pub link: LinkLimits,
    pub memory: MemoryLimits,
}

/// One run in real mode: the district's servers up, then the run driver on the wall
/// clock (its actions side by side as local tasks of this thread), then every server
/// stopped.
pub async fn run_real(config: RunConfig) -> Result<Report, SimError> {
    let registries = Registries::defaults().map_err(|e| SimError::Run { reason: format!("the registries: {e}") })?;
    let dir = tempfile::Builder::new()
        .prefix("linli-sim-")
        .tempdir()
        .map_err(|e| SimError::Io { what: "creating the data directory".into(), source: e })?;
    let limits = NodeLimits { link: link_limits(), memory: config.memory };
    let boot = Instant::now();
    let processes = config.processes();
    // The tree once the run's moves and splits are made.
    let final_tree = faults::final_topology(&config.topology, &config.faults)?;
    let district = RealDistrict::start(
        &config.topology,
        &final_tree,
        registries.clone(),
        limits,
        dir.path(),
        &processes,
        config.plaintext,
    )
    .await?;
    let boot_ms = boot.elapsed().as_millis() as u64;
    eprintln!(
        "linli-sim: {} up: {} servers in {:.1} s, {} of them child processes, {} (data in {})",
        config.topology.name,
        config.topology.node_count(),
        boot_ms as f64 / 1e3,
        processes.nodes.len(),
        if config.plaintext { "in plaintext" } else { "over mutual TLS" },
        dir.path().display()
    );
    if let Some((addr, ticket)) = district.console(&config.topology.top) {
        eprintln!(
            "linli-sim: watch {} work in a browser: https://{addr}/signin (its certificate names `{}`, not \
             127.0.0.1: accept it), and paste this sign-in ticket (valid 15 minutes, once):\n{ticket}",
            config.topology.top, config.topology.top
        );
    }
    let started = Instant::now();
    let probed = Arc::new(Mutex::new(Vec::new()));
    let probes = tokio::spawn(memory::probe_every(district.metrics_addrs(), started, probed.clone()));
    let real = Rc::new(RealRun { district, started });
    let mut report = tokio::task::LocalSet::new()
        .run_until(driver::run(real.clone(), &config, &final_tree, registries, boot_ms))
        .await?;
    probes.abort();
    report.memory_by_part = std::mem::take(&mut *probed.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    real.district.stop_all().await?;
    Ok(report)
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

pub fn parent_of(topology: &Topology, node: &str) -> Option<String> {
    topology.parent_of(node).map(str::to_string)
}
