//! linli-node: the server of every tier, and the community binary.
//!
//! - [`engine`]: the durable engine, a writer thread that owns the replica and a
//!   committer thread that commits what arrives together in one synced RocksDB batch.
//! - [`server`]: a node of any tier: `Registry`, `Replication`, health, metrics, the
//!   link to the parent; `run(config, listener, shutdown)` for tests and binaries.
//! - [`link`]: replication links, the runtime around `linli_core::link`.
//! - [`config`]: TOML file < `LINLI_*` environment < flags, validated at start.
//! - [`schemas`]: registry files read from a directory.
//! - [`backup`]: online backups and offline restores of a node's store.
//! - [`logging`] and [`telemetry`]: log lines, and traces of every hop over OTLP.

pub mod backup;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod engine;
pub mod error;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod schemas;
pub mod server;
pub mod telemetry;

pub use engine::{Engine, EngineConfig, EngineHandle};
pub use error::NodeError;
