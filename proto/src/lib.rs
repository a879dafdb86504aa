//! linli's wire protocol, `linli.v1`, and its conversions to core types.
//!
//! The generated prost and tonic code lives in [`v1`]. Conversions between it and
//! `linli-core` types are in `convert/`, one file per type, so prost types never reach
//! the core. Every conversion from the wire checks what it reads and says what is
//! wrong and where ([`ProtoError`]).

pub mod convert;
mod error;
pub mod wire;

pub use error::ProtoError;

/// The generated messages, clients and servers of `linli/v1/linli.proto`.
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("linli.v1");

    /// The encoded descriptors of `linli.v1`, for the servers' reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("linli_v1_descriptor");
}
