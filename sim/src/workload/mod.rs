//! The workload: what a district's people write, as a seeded schedule of actions.
//!
//! Each community has its own [`CommunityLoad`]: arrivals of new work on the daily
//! curve (requests through the channels, task orders, volunteer hours, site reports,
//! project spend), and the follow-up steps each record goes through — a street
//! dispatches a request, the community accepts and resolves it; a task is claimed
//! concurrently by the community and its street, and completed once both claims are
//! seen. A step is written by the node that would write it in life (the street for a
//! dispatch) and only once that node sees the state it moves from: the chain of writes
//! to one record is causal, so its final state is known from the acknowledged writes
//! alone, whatever the delivery order.

mod clock;
pub mod community;
mod fields;

pub use fields::grid_name;

pub use clock::{Clock, DAY_MS, HOUR_MS, curve};
pub use community::{Action, CommunityLoad, Decision, Step};

/// Writes a step may wait for its precondition (a dispatch not yet replicated to the
/// community) before it is dropped and counted as abandoned.
pub const WAITS_MAX: u32 = 200;
