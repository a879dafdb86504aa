//! Conversions between `linli.v1` messages and core types, one file per type.

mod answer;
mod frame;
mod log_entry;
mod query;
mod record;
mod split;
mod write;
mod written;

pub use answer::reply;
pub use frame::tier_to_wire;
pub use query::{RESOLUTION_DAYS_DEFAULT, SILENT_KIND_DEFAULT, SILENT_MS_DEFAULT, query_from};
pub use record::record_from_json;
pub use write::{WAIT_MS_DEFAULT, WAIT_MS_MAX, durable_wait};
