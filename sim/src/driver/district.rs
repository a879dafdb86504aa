//! What the run driver asks of a district: the one seam between the shared run (the
//! workload, probes, faults, hand-overs, settling, measurements) and a mode's district
//! — real servers behind proxies on the wall clock, or replicas on a simulated network
//! and clock.
//!
//! Every method names nodes by id. Nothing here waits for time to pass except
//! [`District::wait_until`]: the driver keeps every other wait (a retry, a poll, a
//! hand-over) in its own queue of due actions, so that sim mode stays one deterministic
//! event loop.

use crate::checks::Check;
use crate::error::SimError;
use crate::ledger::Ledger;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{SplitReport, SplitRule, Written};
use linli_core::write::Write;
use std::time::Duration;

/// How far a parent is behind a child's log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lag {
    /// Entries of the child's log the parent has not applied.
    pub entries: u64,
    /// Real mode: ms since the parent last held all of the child's log it knew of (its
    /// `linli_link_lag_seconds`). Sim mode: ms since the parent last applied from the
    /// child, or was last seen caught up by a sample, while it is behind.
    pub ms: u64,
}

/// What became of a write.
#[derive(Debug)]
pub enum Wrote {
    Acked(Written),
    /// The node is down, or takes no writes now (handing over, or split).
    Down,
    /// The node refused it (the record moved there between the read and the write).
    Refused(SimError),
}

/// One child's link to its parent, as both ends see it.
#[derive(Debug, Clone, Copy)]
pub struct LinkState {
    pub child_end: u64,
    pub parent_end: u64,
    /// How far the parent has applied the child's log.
    pub applied_up: u64,
    /// How far the child has applied the parent's log.
    pub applied_down: u64,
    /// Sessions the link has had.
    pub sessions: u64,
    pub connected: bool,
    /// No frame of the session unacknowledged (a real link does not say: always true).
    pub idle: bool,
}

/// The paces that differ between the modes.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub sample_every: Duration,
    /// A probe is sent at most this often.
    pub probe_gap: Duration,
    /// After a probe arrived: the pause before the next.
    pub probe_pause: Duration,
    /// After a probe found its path under a fault, or its community down.
    pub probe_skip: Duration,
    pub probes_max: usize,
}

/// A district the driver runs. The futures are awaited on the driver's own thread.
#[allow(async_fn_in_trait)]
pub trait District: 'static {
    /// Whether the actions that wait on the network run side by side (real mode: one
    /// slow write must not hold the others) or each to its end at once (sim mode,
    /// where nothing waits).
    const CONCURRENT: bool;

    /// Time since the run's start, on the mode's clock.
    fn now(&self) -> Duration;
    /// Lets the mode's clock reach `at`: a sleep, or the simulated network run to it.
    async fn wait_until(&self, at: Duration) -> Result<(), SimError>;
    fn pace(&self, duration: Duration) -> Pace;

    async fn write(&self, node: &str, write: Write) -> Result<Wrote, SimError>;
    /// `Ok(None)` while the node is down or the record unknown there.
    async fn get(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError>;
    /// The end of `node`'s log; `None` while it is down.
    async fn log_end(&self, node: &str) -> Result<Option<u64>, SimError>;
    /// `child`'s link to `parent`; `None` while either end is down.
    async fn link(&self, child: &str, parent: &str) -> Result<Option<LinkState>, SimError>;
    /// How far `parent` is behind `child`'s log: in entries, counted from the child's
    /// side (a parent cannot know what a cut-off child wrote), and in ms.
    async fn lag(&self, child: &str, parent: &str) -> Result<Lag, SimError>;
    /// How far `community`'s log is durable at the top of the tree (the district), as
    /// its parent's Acks said last; `None` while unknown (down, or not yet told).
    async fn durable_at_top(&self, community: &str) -> Result<Option<u64>, SimError>;
    /// Bytes on `child`'s uplink since the start.
    fn link_bytes(&self, child: &str) -> Result<u64, SimError>;
    fn bytes_on_links(&self) -> u64;
    /// Resident memory of the whole district (0 where measuring it would make two
    /// runs of a seed differ).
    fn rss_bytes(&self) -> u64;
    /// The most log entries any node holds now (its log's end less what it trimmed),
    /// and the most any node wrote (nodes run as processes are not looked at).
    fn log_entries_max(&self) -> (u64, u64);

    async fn cut(&self, child: &str) -> Result<(), SimError>;
    async fn heal(&self, child: &str) -> Result<(), SimError>;
    async fn set_delay_ms(&self, child: &str, delay_ms: u64) -> Result<(), SimError>;
    async fn set_loss_pct(&self, child: &str, loss_pct: f64) -> Result<(), SimError>;
    async fn set_skew_ms(&self, node: &str, skew_ms: i64) -> Result<(), SimError>;
    /// A graceful stop, after the writes in flight there are answered.
    async fn crash(&self, node: &str) -> Result<(), SimError>;
    /// SIGKILL (sim mode: a crash; its store holds only what was made durable).
    async fn kill(&self, node: &str) -> Result<(), SimError>;
    /// The size of the changes in `node`'s log entries after `after` through
    /// `through`, compressed with zstd (level 3) in one stream: the baseline for the
    /// bytes a catch-up spent on the wire. `None` where the log cannot be read here (a
    /// node that runs as a process, or is down).
    async fn changes_zstd_bytes(&self, node: &str, after: u64, through: u64) -> Result<Option<u64>, SimError>;
    /// Stops `node` and deletes its data.
    async fn wipe(&self, node: &str) -> Result<(), SimError>;
    async fn restart(&self, node: &str) -> Result<(), SimError>;
    /// Copies `node`'s store aside, as an operator's backup (a real node is stopped
    /// gracefully for the copy and started again); a later backup replaces it.
    async fn backup(&self, node: &str) -> Result<(), SimError>;
    /// Stops `node`, puts its last backup in place of its store, and starts it again.
    async fn restore(&self, node: &str) -> Result<(), SimError>;

    /// `node` takes no more of the workload's writes (the ones in flight answered
    /// first); the end of its log then, `None` if it is down.
    async fn close(&self, node: &str) -> Result<Option<u64>, SimError>;
    async fn reopen(&self, node: &str) -> Result<(), SimError>;
    /// A move's first step: the street `to` restarts with `community` among its children.
    async fn accept(&self, community: &str, to: &str) -> Result<(), SimError>;
    /// A move's last step, once `from` handed over: `from` restarts without the
    /// community and forgets it, the community's uplink goes to `to` and it restarts.
    async fn release(&self, community: &str, from: &str, to: &str) -> Result<(), SimError>;
    /// A split's first step: `street` restarts with the new communities among its
    /// children, and they start.
    async fn begin_split(&self, street: &str, new: &[String]) -> Result<(), SimError>;
    /// `street` runs the split.
    async fn split(&self, street: &str, rule: &SplitRule) -> Result<SplitReport, SimError>;

    /// The checks of [`crate::checks`] over the district as the run left it.
    async fn checks(&self, tree: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError>;
}
