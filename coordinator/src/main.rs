//! `linli-coordinator --tier street|district`: linli's street and district coordinators.
//!
//! A coordinator runs the same server as a community node (`linli_node::server`):
//! the same replica engine over RocksDB, with a different role. A street accepts links
//! from its communities and keeps one to the district; the district accepts the
//! streets. Their scope is their subtree, so a street may dispatch a community's
//! request and the district may publish to every community. The operators' `Query`
//! service runs in every server (`linli_node::server::query`); `linlictl` (the
//! `linli-ctl` crate) is its command line.

use anyhow::{Context, bail};
use clap::Parser;
use linli_node::cli::ServeArgs;
use linli_node::config::Tier;

#[derive(Parser)]
#[command(name = "linli-coordinator", about = "linli street or district coordinator")]
struct Cli {
    /// The tier: street or district (also `tier` in the config file, `LINLI_TIER`).
    #[arg(long)]
    tier: Option<Tier>,
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    // First: the trace exporter, set up with the log, lives on the runtime.
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let _in_runtime = runtime.enter();
    linli_node::logging::init()?;
    let cli = Cli::parse();
    let config = cli.serve.load(cli.tier)?;
    if config.tier == Tier::Community {
        bail!("`tier` is community: a community runs `linli-node serve`, not a coordinator");
    }
    let served = runtime.block_on(linli_node::cli::serve(config));
    linli_node::telemetry::shutdown();
    served?;
    Ok(())
}
