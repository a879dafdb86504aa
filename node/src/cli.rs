//! The `serve` command line shared by `linli-node` and `linli-coordinator`: flags
//! override `LINLI_*` variables, which override the config file.

use crate::config::{Overrides, ServerConfig, Tier};
use crate::error::NodeError;
use crate::server;
use linli_core::schema::Registries;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML); also `LINLI_CONFIG`.
    #[arg(long, env = "LINLI_CONFIG")]
    pub config: Option<PathBuf>,
    /// This node's id.
    #[arg(long)]
    pub id: Option<String>,
    /// gRPC listen address, e.g. 127.0.0.1:7420.
    #[arg(long)]
    pub listen: Option<String>,
    /// Data directory (RocksDB).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The parent's address, e.g. http://127.0.0.1:7410.
    #[arg(long)]
    pub parent: Option<String>,
    /// Ids of the children accepted, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub children: Option<Vec<String>>,
    /// Registry schemas directory instead of the shipped defaults.
    #[arg(long)]
    pub registries_dir: Option<PathBuf>,
    /// Prometheus metrics address, e.g. 127.0.0.1:9420.
    #[arg(long)]
    pub metrics_listen: Option<String>,
    /// Directory `linlictl backup` writes this node's backups into (unset: refused).
    #[arg(long)]
    pub backup_dir: Option<PathBuf>,
    /// The operators' web console (HTTPS), e.g. 127.0.0.1:7443 (needs TLS).
    #[arg(long)]
    pub console_listen: Option<String>,
    /// Children that moved to another parent for good, comma-separated: their
    /// documents and checkpoints are forgotten at this start. A child left out of the
    /// config without this flag stops the start instead (its data is kept).
    #[arg(long, value_delimiter = ',')]
    pub forget: Vec<String>,
}

impl ServeArgs {
    /// The validated config: file, then environment, then these flags.
    pub fn load(&self, tier: Option<Tier>) -> Result<ServerConfig, crate::config::ConfigError> {
        let flags = Overrides {
            id: self.id.clone(),
            tier,
            listen: self.listen.clone(),
            data_dir: self.data_dir.clone(),
            parent: self.parent.clone(),
            children: self.children.clone(),
            registries_dir: self.registries_dir.clone(),
            metrics_listen: self.metrics_listen.clone(),
            backup_dir: self.backup_dir.clone(),
            console_listen: self.console_listen.clone(),
            forget: self.forget.clone(),
        };
        ServerConfig::load(self.config.as_deref(), std::env::vars(), &flags)
    }
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
pub async fn serve(config: ServerConfig) -> Result<(), NodeError> {
    let registries = match &config.registries_dir {
        Some(dir) => crate::schemas::load_dir(dir)?,
        None => Registries::defaults()?,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Io { what: format!("listening on {}", config.listen), source })?;
    crate::logging::set_node(&config.id, config.tier.as_str());
    tracing::info!(id = %config.id, tier = %config.tier, listen = %config.listen, "starting");
    server::run(config, registries, listener, shutdown_signal(), None).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
