//! Replication links: the runtime around [`linli_core::link`].
//!
//! A child dials its parent ([`uplink`]) and keeps the stream up; a parent serves the
//! `Replication` service ([`service`]). Once both Hellos are exchanged, both ends run
//! the same pump ([`pump`]) around core's `Session`, which decides everything the
//! link does; the pump moves frames, reads the log and calls the engine.
//! [`durability`] carries the parent's watermarks down to the children.

pub mod durability;
mod gather;
pub mod pump;
pub mod service;
pub mod status;
pub mod trimmer;
pub mod uplink;

pub use pump::Shared;
pub use status::{LinkStatus, Links};

/// gRPC metadata naming the child that opens a link, so the parent can answer with
/// its checkpoint for that child in its Hello.
pub const NODE_HEADER: &str = "linli-node";

pub use linli_core::link::limits::FRAME_BYTES_MAX;
