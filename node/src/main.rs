//! `linli-node`: a community node.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope};
use linli_core::schema::Registries;
use linli_core::value::format_yuan;
use linli_node::{Engine, EngineConfig, demo};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "linli-node", about = "linli community node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a community: the Registry service and the link to its street.
    Serve(linli_node::cli::ServeArgs),
    /// Make a data directory of a backup (`linlictl backup`), offline: the server must
    /// be stopped and its data directory missing or empty. The log takes a new
    /// identity, so its street repairs against it instead of taking it for the log
    /// it had (see docs/operations.md).
    Restore {
        /// The backup's directory.
        #[arg(long)]
        from: PathBuf,
        /// The data directory to make; also `data_dir` of `--config`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The server's config file, for its `data_dir`.
        #[arg(long, env = "LINLI_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a community's day against a durable store and print its aggregates.
    Demo {
        /// Data directory (RocksDB); reused across runs.
        #[arg(long)]
        data: PathBuf,
        /// The community's node id.
        #[arg(long, default_value = "lg-pingdi-pingdi")]
        community: String,
        /// Requests to raise.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Registry schemas to load instead of the shipped defaults.
        #[arg(long)]
        registries: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    // First: the trace exporter, set up with the log, lives on the runtime.
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    linli_node::logging::init()?;
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.load(Some(linli_node::config::Tier::Community))?;
            let served = runtime.block_on(linli_node::cli::serve(config));
            linli_node::telemetry::shutdown();
            served?;
        }
        Command::Restore { from, data_dir, config } => {
            let data_dir = match (data_dir, config) {
                (Some(dir), _) => dir,
                (None, Some(config)) => {
                    let args = linli_node::cli::ServeArgs { config: Some(config), ..Default::default() };
                    args.load(None)?.data_dir
                }
                (None, None) => bail!("restore: name the data directory with --data-dir or --config"),
            };
            let restored = linli_node::backup::restore(&from, &data_dir, linli_node::link::status::now_ms())?;
            println!(
                "restored {} into {}: log through {}, renamed {} -> {}; the street repairs against it at the next start",
                from.display(),
                data_dir.display(),
                restored.log_end,
                restored.old_log,
                restored.new_log
            );
        }
        Command::Demo { data, community, requests, registries } => {
            let registries = match registries {
                Some(dir) => linli_node::schemas::load_dir(&dir)?,
                None => Registries::defaults()?,
            };
            let node = NodeId::new(&community).context("--community")?;
            let config = EngineConfig::new(ReplicaConfig::new(node, Scope::only(&community)), registries, data.clone());
            let engine = Engine::start(config).with_context(|| format!("opening {}", data.display()))?;
            let report = demo::run(&engine.handle(), &community, requests)?;
            print_report(&report);
            engine.shutdown();
            if !report.views_equal_recount {
                bail!("the maintained views differ from a recount of the documents");
            }
        }
    }
    Ok(())
}

fn print_report(report: &demo::DemoReport) {
    println!(
        "created {} records and moved them along their status machines in {:.2}s, one write at a time, \
         each acknowledged after a synced write",
        report.records_created,
        report.elapsed.as_secs_f64()
    );
    println!("\n{:<18} {:<18} {:<12} {:>8}", "community", "registry", "status", "records");
    let mut totals = std::collections::BTreeMap::new();
    for (key, count) in &report.views.counts {
        *totals.entry((key.community.clone(), key.registry.clone(), key.status.clone())).or_insert(0) += count;
    }
    for ((community, registry, status), count) in totals {
        println!("{community:<18} {registry:<18} {status:<12} {count:>8}");
    }
    println!("\n{:<18} {:<12} {:<10} {:<9} {:>14}", "community", "registry", "field", "period", "sum");
    for (key, sum) in &report.views.sums {
        let shown = if key.registry == "projects" { format_yuan(*sum) } else { sum.to_string() };
        println!("{:<18} {:<12} {:<10} {:<9} {:>14}", key.community, key.registry, key.field, key.period, shown);
    }
    println!("\nopen requests past their deadline: {}", report.overdue.len());
    for (deadline, record) in report.overdue.iter().take(5) {
        println!("  {record}  overdue by {}h", (report.now_ms - deadline) / 3_600_000);
    }
    println!(
        "\nviews equal a recount from the stored documents: {}",
        if report.views_equal_recount { "yes" } else { "NO" }
    );
}
