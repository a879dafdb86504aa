//! `linli-coordinator --tier street|district|city`: linli's coordinators.
//!
//! A coordinator runs the same server as a community node (`linli_node::server`):
//! the same replica engine over RocksDB, with a different role. A street accepts links
//! from its communities and keeps one to its district; a district accepts its streets
//! and, under a city, keeps one to the city, which accepts the districts. A street
//! writes in its own documents and its communities', so it may dispatch a community's
//! request; the root (the district of a district's tree, or the city) writes anywhere
//! and may publish to every community. The operators' `Query`
//! service runs in every server (`linli_node::server::query`); `linlictl` (the
//! `linli-ctl` crate) is its command line.

use anyhow::{Context, bail};
use clap::Parser;
use linli_node::cli::ServeArgs;
use linli_node::config::Tier;

#[derive(Parser)]
#[command(name = "linli-coordinator", about = "linli street, district or city coordinator")]
struct Cli {
    /// The tier: street, district or city (also `tier` in the config file, `LINLI_TIER`).
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
    if config.tier.is_leaf() {
        bail!("`tier` is {}: a community runs `linli-node serve`, not a coordinator", config.tier);
    }
    let served = runtime.block_on(linli_node::cli::serve(config));
    linli_node::telemetry::shutdown();
    served?;
    Ok(())
}
