//! What each link is doing: for operators, metrics and tests.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// One link as this node sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkStatus {
    pub connected: bool,
    /// The peer is this node's parent (set when a session starts).
    pub parent: bool,
    /// Wall clock of the last frame received, in ms since the epoch.
    pub last_contact_ms: u64,
    /// Sessions started (reconnects + 1).
    pub sessions: u64,
    /// This node's log: shipped through, and acknowledged by the peer through.
    pub sent_through: u64,
    pub acked_through: u64,
    /// The peer's log: its end as last announced, and applied here through.
    pub peer_log_end: u64,
    pub applied_through: u64,
    /// Wall clock, in ms, when this node last held all of the peer's log it knew of
    /// (the lag in seconds counts from there).
    pub caught_up_ms: u64,
    /// Log entries this node refused from the peer, and the peer refused from it.
    pub refused_here: u64,
    pub refused_there: u64,
    /// Sync protocol messages (repair path) received.
    pub sync_messages: u64,
    /// Sessions that ran the repair path.
    pub repairs: u64,
}

/// Every link of a node, by peer id.
#[derive(Debug, Clone, Default)]
pub struct Links(Arc<Mutex<BTreeMap<String, LinkStatus>>>);

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl LinkStatus {
    /// Entries of the peer's log not applied here yet.
    pub fn lag_changes(&self) -> u64 {
        self.peer_log_end.saturating_sub(self.applied_through)
    }

    /// How far behind the peer this node's copy is, in ms: 0 while connected and caught
    /// up, otherwise the time since it last was.
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        if self.connected && self.lag_changes() == 0 { 0 } else { now_ms.saturating_sub(self.caught_up_ms) }
    }

    /// Records that the applied position or the peer's end moved.
    pub fn note_progress(&mut self, now_ms: u64) {
        if self.lag_changes() == 0 {
            self.caught_up_ms = now_ms;
        }
    }
}

impl Links {
    pub fn update(&self, peer: &str, f: impl FnOnce(&mut LinkStatus)) {
        let mut links = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(links.entry(peer.to_string()).or_default());
    }

    pub fn get(&self, peer: &str) -> Option<LinkStatus> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(peer).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, LinkStatus> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
