//! What a node counts about itself, for the Prometheus exposition ([`render`]).
//!
//! One [`NodeMetrics`] per server, shared by the engine's threads (fsync and step
//! latency, batch sizes, the cache), the link pumps (changes applied and refused, link
//! batch sizes) and the query service (latency by query kind). Recording is a few
//! relaxed atomic adds; labels with values from a peer are bounded: refusal reasons
//! are the kinds of `linli_core::Error`, and query kinds the fixed list of queries.
//! Every metric is listed, with its meaning, in `docs/metrics.md`.

pub mod histogram;
mod render;

pub use histogram::Histogram;
pub use render::{METRIC_NAMES, render};

use linli_core::views::VIEW_NAMES;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The query kinds `linli_query_seconds` is labelled with.
pub const QUERY_KINDS: [&str; 9] =
    ["open", "open_list", "overdue", "resolution", "funnel", "projects", "hours", "sites", "none"];
/// The web console's pages, as `linli_console_page_seconds` labels them.
pub const CONSOLE_PAGES: [&str; 9] =
    ["overview", "overdue", "records", "resolution", "tasks", "projects", "hours", "sites", "links"];

pub struct NodeMetrics {
    /// One RocksDB `WriteBatch` written and its WAL synced.
    pub fsync_seconds: Histogram,
    /// One engine step (a batch of writes, or a peer's batch) on the writer thread.
    pub engine_step_seconds: Histogram,
    /// Requests that shared one engine batch (and one sync).
    pub engine_batch_requests: Histogram,
    /// Log entries in one batch received from a peer.
    pub link_batch_entries: Histogram,
    /// Latency of `Query.Ask` by query kind, in [`QUERY_KINDS`] order.
    pub query_seconds: [Histogram; QUERY_KINDS.len()],
    /// The console's pages (and their live parts) made at the server, in
    /// [`CONSOLE_PAGES`] order.
    pub console_page_seconds: [Histogram; CONSOLE_PAGES.len()],
    /// Changes applied: written here, and from peers.
    pub changes_local: AtomicU64,
    pub changes_peer: AtomicU64,
    /// Peers' changes refused, by the kind of error.
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// Documents quarantined because their stored bytes could not be read.
    pub quarantined: AtomicU64,
    /// The document cache, as of the last engine step.
    pub documents_cached: AtomicU64,
    pub documents_cached_bytes: AtomicU64,
    /// Documents holding peers' changes that wait for their dependencies.
    pub documents_waiting: AtomicU64,
    /// Log entries committed by this process and their encoded bytes: the mean size
    /// that estimates a link's backlog in bytes.
    pub log_entries_committed: AtomicU64,
    pub log_bytes_committed: AtomicU64,
    /// Bytes of the newest log entries kept decoded for the links' senders.
    pub recent_log_bytes: AtomicU64,
    /// Entries of each view (in the order of `linli_core::views::VIEW_NAMES`), as of
    /// the last engine step.
    pub view_entries: [AtomicU64; VIEW_NAMES.len()],
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            fsync_seconds: Histogram::new(histogram::SECONDS),
            engine_step_seconds: Histogram::new(histogram::SECONDS),
            engine_batch_requests: Histogram::new(histogram::COUNTS),
            link_batch_entries: Histogram::new(histogram::COUNTS),
            query_seconds: std::array::from_fn(|_| Histogram::new(histogram::SECONDS)),
            console_page_seconds: std::array::from_fn(|_| Histogram::new(histogram::SECONDS)),
            changes_local: AtomicU64::new(0),
            changes_peer: AtomicU64::new(0),
            refused: Mutex::new(BTreeMap::new()),
            quarantined: AtomicU64::new(0),
            documents_cached: AtomicU64::new(0),
            documents_cached_bytes: AtomicU64::new(0),
            documents_waiting: AtomicU64::new(0),
            log_entries_committed: AtomicU64::new(0),
            log_bytes_committed: AtomicU64::new(0),
            recent_log_bytes: AtomicU64::new(0),
            view_entries: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl NodeMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(gauge: &AtomicU64, value: u64) {
        gauge.store(value, Ordering::Relaxed);
    }

    pub fn get(gauge: &AtomicU64) -> u64 {
        gauge.load(Ordering::Relaxed)
    }

    /// A peer's change refused for `reason` (a kind of `linli_core::Error`).
    pub fn refused(&self, reason: &'static str) {
        let mut refused = self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *refused.entry(reason).or_default() += 1;
    }

    pub fn refusals(&self) -> BTreeMap<&'static str, u64> {
        self.refused.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The histogram of `Query.Ask` for `kind` (an unknown kind counts as `none`).
    pub fn query(&self, kind: &str) -> &Histogram {
        let i = QUERY_KINDS.iter().position(|k| *k == kind).unwrap_or(QUERY_KINDS.len() - 1);
        &self.query_seconds[i]
    }

    /// The histogram of console page `page` (one of [`CONSOLE_PAGES`]; the last one
    /// for a name it does not know).
    pub fn console_page(&self, page: &str) -> &Histogram {
        let i = CONSOLE_PAGES.iter().position(|p| *p == page).unwrap_or(CONSOLE_PAGES.len() - 1);
        &self.console_page_seconds[i]
    }

    /// Mean encoded bytes of a log entry, over what this process committed.
    pub fn log_entry_bytes_mean(&self) -> u64 {
        let entries = Self::get(&self.log_entries_committed);
        Self::get(&self.log_bytes_committed).checked_div(entries).unwrap_or(0)
    }
}

/// The resident memory of a process, from its `/proc/<pid>/status` (`VmRSS`), or
/// `/proc/self/status` for this one; 0 where the system does not say (not Linux).
pub fn resident_bytes_of(status_path: &str) -> u64 {
    std::fs::read_to_string(status_path)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}
