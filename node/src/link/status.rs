//! What each link is doing: for operators, metrics and tests.

use std::collections::{BTreeMap, VecDeque};
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
    /// Towards the parent: this node's log durable at the tiers above it, as the
    /// parent's Acks say (`[0]` at the parent's parent).
    pub durable_above: Vec<u64>,
    /// When the acknowledged position moved, `(acked_through, ms)`, the last
    /// [`ACKED_HISTORY_MAX`]: since when a tier has held an entry.
    pub acked_at: VecDeque<(u64, u64)>,
}

/// Moves of the acknowledged position kept per link.
pub const ACKED_HISTORY_MAX: usize = 64;

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

    /// Records what the peer acknowledged (and, from a parent, the watermarks above).
    pub fn note_acked(&mut self, acked_through: u64, durable_above: &[u64], now_ms: u64) {
        if acked_through > self.acked_through {
            if self.acked_at.len() == ACKED_HISTORY_MAX {
                self.acked_at.pop_front();
            }
            self.acked_at.push_back((acked_through, now_ms));
        }
        self.acked_through = acked_through;
        self.durable_above = durable_above.to_vec();
    }

    /// When the peer first acknowledged entry `seq`, as far as the kept history says.
    pub fn acked_since_ms(&self, seq: u64) -> Option<u64> {
        self.acked_at.iter().find(|(through, _)| *through >= seq).map(|(_, ms)| *ms)
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
