//! `linli-sim run`: a whole district on this machine, its workload and faults, the
//! checks and the report, with real servers (`--mode real`) or simulated ones
//! (`--mode sim`, deterministic for a seed). Exit codes: 0 the checks passed, 1 a check failed (the seed
//! and the command that reproduces the run are printed), 2 the run could not be made
//! (bad arguments, a scenario that does not parse, a server that would not start).

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use linli_sim::faults::{self, FaultSpec};
use linli_sim::report;
use linli_sim::run::{self as runs, RunConfig, run_real};
use linli_sim::simulated::run::run_sim;
use linli_sim::topology::Topology;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "linli-sim", about = "A district in a box: real servers, a workload, faults, checks, a report")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a district with its workload and faults, then checks and reports.
    Run(RunArgs),
    /// Renders a kustomize overlay of the district's coordinators for Kubernetes (see
    /// k8s/README.md), from a preset or a topology file.
    K8s(K8sArgs),
}

#[derive(clap::Args)]
struct K8sArgs {
    /// longhua, luohu or longgang (a city, shenzhen, has no overlay yet).
    #[arg(long, conflicts_with = "topology")]
    preset: Option<String>,
    /// A topology file (TOML: name, district, [[streets]] id and communities).
    #[arg(long)]
    topology: Option<PathBuf>,
    /// The overlay's directory, e.g. k8s/overlays/longgang.
    #[arg(long)]
    out: PathBuf,
    /// cert-manager Certificates for every node's Secret, from this ClusterIssuer.
    #[arg(long)]
    cert_manager: Option<String>,
    /// The communities too, as linli-node StatefulSets (a lab cluster).
    #[arg(long)]
    lab_communities: bool,
}

fn k8s(args: K8sArgs) -> anyhow::Result<bool> {
    let topology = match (&args.preset, &args.topology) {
        (Some(preset), None) => Topology::preset(preset, 1)?,
        (None, Some(path)) => Topology::from_file(path, 1)?,
        _ => bail!("give --preset or --topology"),
    };
    let options = linli_sim::k8s::Options {
        cert_manager_issuer: args.cert_manager.clone(),
        lab_communities: args.lab_communities,
    };
    let files = linli_sim::k8s::write(&topology, &options, &args.out)?;
    println!("{files} files in {}: kubectl apply -k {}", args.out.display(), args.out.display());
    Ok(true)
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    /// Every node a real server: tonic over loopback, RocksDB in a temp directory.
    Real,
    /// The replica engine over a simulated network and clock, in-memory stores:
    /// deterministic for a seed, a day in seconds.
    Sim,
}

#[derive(clap::Args)]
struct RunArgs {
    /// longhua (6 streets, 50 communities), luohu (10, 83), longgang (11, 111): districts;
    /// shenzhen: a city of 10 districts (74 streets, 680 communities), sim mode only.
    #[arg(long, conflicts_with_all = ["streets", "topology"])]
    preset: Option<String>,
    /// A custom size: streets (with --communities).
    #[arg(long, requires = "communities", conflicts_with = "topology")]
    streets: Option<usize>,
    #[arg(long, requires = "streets")]
    communities: Option<usize>,
    /// A topology file (TOML: name, district, [[streets]] id and communities).
    #[arg(long)]
    topology: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "real")]
    mode: Mode,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of workload: wall seconds in real mode [default: 60], simulated ones in
    /// sim mode [default: 86400, a day].
    #[arg(long)]
    duration: Option<f64>,
    /// Writes per second of the run of an average community (larger ones write more)
    /// [default: 10 in real mode, 0.01 in sim mode].
    #[arg(long)]
    rate: Option<f64>,
    /// District time per run time: 144 runs a day in 10 minutes [default: 144 in real
    /// mode, 1 in sim mode].
    #[arg(long)]
    speed: Option<f64>,
    /// Scenario files of faults (see sim/scenarios/).
    #[arg(long)]
    scenario: Vec<PathBuf>,
    /// A fault: kind,node,at_s,for_s[,amount], e.g. cut,street:1,10,20 or kill,community:3,20,5.
    #[arg(long)]
    fault: Vec<String>,
    /// Seconds the district may take to settle after the workload.
    #[arg(long, default_value_t = 120.0)]
    settle: f64,
    /// Where report.json and report.html go [default: linli-sim-out/<topology>-seed<seed>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress line (for logs and CI).
    #[arg(long)]
    quiet: bool,
    /// Real mode: which nodes run as child processes of the production binaries
    /// (`linli-node`, `linli-coordinator`); the rest run in this process.
    #[arg(long, value_enum, default_value = "killed")]
    processes: ProcessChoice,
    /// Real mode: where linli-node and linli-coordinator are [default: beside linli-sim].
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Real mode: links and calls in plaintext, without TLS (to measure what TLS costs);
    /// by default every node has a certificate of a CA made for the run.
    #[arg(long)]
    plaintext: bool,
    /// Real mode: each server's document cache, in MiB (its `memory.doc_cache_mib_max`)
    /// [default: the server's, 256].
    #[arg(long)]
    doc_cache_mib: Option<u64>,
    /// Real mode: each server's RocksDB write buffers, all families together, in MiB
    /// (its `memory.write_buffers_mib_max`) [default: the server's, 16].
    #[arg(long)]
    write_buffers_mib: Option<u64>,
    /// Real mode: each server's newest log entries kept decoded for its links, in MiB
    /// (its `memory.log_cache_mib`) [default: the server's, 8].
    #[arg(long)]
    log_cache_mib: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProcessChoice {
    /// The nodes a `kill` fault names (SIGKILL needs a process of its own).
    Killed,
    /// Every node: the district as separate servers, as deployed.
    All,
}

/// Monday 2026-11-16 08:00 in Shenzhen (UTC+8): the district's day starts.
const START_MS: i64 = 1_794_758_400_000 + 8 * 3_600_000;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,linli_node=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match Cli::parse().command {
        Command::Run(args) => run(args),
        Command::K8s(args) => k8s(args),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("linli-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What every server of a real run may hold in memory, from the flags.
fn memory_limits(args: &RunArgs) -> anyhow::Result<linli_node::config::MemoryLimits> {
    let doc_cache = args.doc_cache_mib.map(|mib| (mib, "flag --doc-cache-mib"));
    let write_buffers = args.write_buffers_mib.map(|mib| (mib, "flag --write-buffers-mib"));
    let log_cache = args.log_cache_mib.map(|mib| (mib, "flag --log-cache-mib"));
    Ok(linli_node::config::MemoryLimits::with_mib([doc_cache, write_buffers, None, log_cache])?)
}

fn run(args: RunArgs) -> anyhow::Result<bool> {
    let (mode, duration_max) = match args.mode {
        Mode::Real => (runs::Mode::Real, 86_400.0),
        Mode::Sim => (runs::Mode::Sim, 31.0 * 86_400.0),
    };
    let sim = mode == runs::Mode::Sim;
    let duration = args.duration.unwrap_or(if sim { 86_400.0 } else { 60.0 });
    let rate = args.rate.unwrap_or(if sim { 0.01 } else { 10.0 });
    let speed = args.speed.unwrap_or(if sim { 1.0 } else { 144.0 });
    if !(duration > 0.0 && duration <= duration_max) {
        bail!("--duration {duration} must be in (0, {duration_max}] seconds in {} mode", mode.as_str());
    }
    if !(0.0..=1_000.0).contains(&rate) {
        bail!("--rate {rate} must be in [0, 1000] writes per second");
    }
    if !(1.0..=100_000.0).contains(&speed) {
        bail!("--speed {speed} must be in [1, 100000]");
    }
    let topology = match (&args.preset, args.streets, args.communities, &args.topology) {
        (Some(preset), ..) => Topology::preset(preset, args.seed)?,
        (None, Some(streets), Some(communities), None) => {
            Topology::sized("custom", "d", streets, communities, args.seed)?
        }
        (None, None, None, Some(path)) => Topology::from_file(path, args.seed)?,
        _ => bail!("give --preset, --streets with --communities, or --topology"),
    };
    let clock = linli_sim::workload::Clock { start_ms: START_MS, speed };
    let mut specs: Vec<FaultSpec> = Vec::new();
    for path in &args.scenario {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading scenario {}", path.display()))?;
        specs.extend(faults::parse_scenario(&path.display().to_string(), &text)?);
    }
    for flag in &args.fault {
        specs.push(faults::parse_flag(flag)?);
    }
    let duration_ms = (duration * 1e3) as u64;
    let faults = faults::expand(&specs, &topology, &clock, duration_ms)?;

    let mut command: Vec<String> = std::env::args().collect();
    if !command.iter().any(|a| a == "--seed" || a.starts_with("--seed=")) {
        command.extend(["--seed".to_string(), args.seed.to_string()]);
    }
    let out =
        args.out.clone().unwrap_or_else(|| PathBuf::from(format!("linli-sim-out/{}-seed{}", topology.name, args.seed)));
    let config = RunConfig {
        mode,
        topology,
        seed: args.seed,
        duration: Duration::from_millis(duration_ms),
        rate,
        speed,
        start_ms: START_MS,
        faults,
        settle: Duration::from_secs_f64(args.settle.clamp(1.0, 3_600.0)),
        progress: !args.quiet,
        command: command.join(" "),
        all_processes: args.processes == ProcessChoice::All,
        bin_dir: args.bin_dir.clone(),
        plaintext: args.plaintext,
        memory: memory_limits(&args)?,
    };
    let started = std::time::Instant::now();
    let report = if sim {
        let report = run_sim(config)?;
        eprintln!(
            "linli-sim: {:.1} s of wall time, {} MB resident at the end",
            started.elapsed().as_secs_f64(),
            report::rss_bytes() >> 20
        );
        report
    } else {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
        let report = runtime.block_on(run_real(config))?;
        // Every server is stopped; drop what is left of the runtime without waiting on it.
        runtime.shutdown_timeout(Duration::from_secs(1));
        report
    };
    print!("{}", report::summary(&report));
    report::write(&report, &out).with_context(|| format!("writing the report to {}", out.display()))?;
    println!("report: {}/report.json, {}/report.html", out.display(), out.display());
    if !report.passed() {
        println!("CHECKS FAILED (seed {}). Reproduce with:\n  {}", report.seed, report.command);
    }
    Ok(report.passed())
}
