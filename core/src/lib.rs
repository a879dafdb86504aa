//! linli-core: the replica engine of linli.
//!
//! Registries of community governance (requests, tasks, projects, volunteers, sites,
//! grids) live in Automerge documents, sharded so none grows without bound. The
//! [`replica::Replica`] is a state machine: it takes local writes, changes from peers,
//! sync protocol steps, the runtime's named values, splits and ticks, and returns
//! effects: batches to persist and answers to release after them. It runs unchanged
//! at every tier and in the simulator; sockets, files, the database, clocks and
//! threads stay outside.
//!
//! - [`schema`]: registry declarations (`registries/*.toml`) and validation.
//! - [`doc`]: registry documents on Automerge.
//! - [`replica`]: the engine.
//! - [`store`]: the `Storage` trait, its byte layouts and the in-memory store (RocksDB's
//!   is the `linli-store-rocks` crate).
//! - [`views`]: materialized aggregates kept from patches.
//! - [`query`]: the operators' aggregate queries, answered from the views.

pub mod doc;
pub mod error;
pub mod hlc;
pub mod ids;
pub mod link;
pub mod query;
pub mod replica;
pub mod schema;
pub mod store;
pub mod trace;
pub mod value;
pub mod views;
pub mod write;

pub use error::{Error, Problem, Result};
