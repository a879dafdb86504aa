//! linli-node: a community node.
//!
//! For now: the durable engine ([`engine::Engine`]), one writer thread that owns the
//! replica and its RocksDB store and commits the writes that arrive together in one
//! synced batch (group commit). The gRPC server and the upstream link arrive with the
//! tiers issue and drive this same engine.

pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod error;
pub mod link;
pub mod server;

pub use engine::{Engine, EngineConfig, EngineHandle};
pub use error::NodeError;
