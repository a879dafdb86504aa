//! Replication links: the runtime around [`linli_core::link`].
//!
//! A child dials its parent ([`uplink`]) and keeps the stream up; a parent serves the
//! `Replication` service ([`service`]). Once both Hellos are exchanged, both ends run
//! the same [`session`]: ship the own log from the peer's checkpoint, apply the peer's
//! batches (checkpoint in the same synced write), ack, and repair when checkpoints
//! disagree with what a side holds.

pub mod service;
pub mod session;
pub mod status;
pub mod uplink;

pub use session::Shared;
pub use status::{LinkStatus, Links};

/// gRPC metadata naming the child that opens a link, so the parent can answer with
/// its checkpoint for that child in its Hello.
pub const NODE_HEADER: &str = "linli-node";

/// Bound on a frame on the wire (decoded). Log batches are bounded well below it by
/// `LinkConfig::batch_bytes_max`; one log entry larger than a batch still goes alone.
pub const FRAME_BYTES_MAX: usize = 32 * 1024 * 1024;
