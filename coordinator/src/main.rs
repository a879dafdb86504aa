//! `linli-coordinator --tier street|district`: a street or district coordinator.

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
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_env("LINLI_LOG")).init();
    let cli = Cli::parse();
    let config = cli.serve.load(cli.tier)?;
    if config.tier == Tier::Community {
        bail!("`tier` is community: a community runs `linli-node serve`, not a coordinator");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(linli_node::cli::serve(config))?;
    Ok(())
}
