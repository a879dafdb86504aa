//! Conversions between `linli.v1` messages and core types, one file per type.

mod frame;
mod log_entry;
mod split;
mod write;
mod written;
