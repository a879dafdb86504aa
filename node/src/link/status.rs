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
    /// The peer's log end as announced and when, for what is not applied here yet
    /// (oldest first, at most [`ANNOUNCED_MAX`]): a connected link's lag in seconds
    /// is the age of the oldest.
    pub announced: VecDeque<(u64, u64)>,
}

/// Announcements of the peer's log end kept per link; past it the newest is merged
/// into the last kept, which only makes the lag read older.
pub const ANNOUNCED_MAX: usize = 64;

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

    /// How far behind the peer this node's copy is, in ms. Connected: how long the
    /// oldest entry the peer announced and this node has not applied has waited (0
    /// when caught up). Down: the time since this node last held all of the peer's log
    /// it knew of (the peer may have written anything since).
    pub fn lag_ms(&self, now_ms: u64) -> u64 {
        if !self.connected {
            return now_ms.saturating_sub(self.caught_up_ms);
        }
        if self.lag_changes() == 0 {
            return 0;
        }
        let since = self.announced.front().map_or(self.caught_up_ms, |(_, at)| *at);
        now_ms.saturating_sub(since)
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
        let newer = self.announced.back().is_none_or(|(end, _)| *end < self.peer_log_end);
        if newer && self.lag_changes() > 0 {
            let full = self.announced.len() >= ANNOUNCED_MAX;
            match self.announced.back_mut() {
                Some(last) if full => last.0 = self.peer_log_end,
                _ => self.announced.push_back((self.peer_log_end, now_ms)),
            }
        }
        while self.announced.front().is_some_and(|(end, _)| *end <= self.applied_through) {
            self.announced.pop_front();
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connected_link_lags_by_the_age_of_its_oldest_unapplied_entry() {
        let mut link = LinkStatus { connected: true, ..LinkStatus::default() };
        link.peer_log_end = 10;
        link.note_progress(1_000);
        link.peer_log_end = 20;
        link.note_progress(2_000);
        assert_eq!(link.lag_ms(2_500), 1_500);
        // Entries through 10 applied: the oldest waiting came with the second announcement.
        link.applied_through = 12;
        link.note_progress(2_600);
        assert_eq!(link.lag_ms(3_000), 1_000);
        // Caught up under a steady flow: 0, not the time since the flow began.
        link.applied_through = 20;
        link.note_progress(3_100);
        assert_eq!(link.lag_ms(3_200), 0);
        // Cut: the time since it last held everything it knew of.
        link.connected = false;
        assert_eq!(link.lag_ms(9_100), 6_000);
    }

    #[test]
    fn announcements_stay_bounded() {
        let mut link = LinkStatus { connected: true, ..LinkStatus::default() };
        for i in 1..=(3 * ANNOUNCED_MAX as u64) {
            link.peer_log_end = i;
            link.note_progress(i);
        }
        assert_eq!(link.announced.len(), ANNOUNCED_MAX);
        assert_eq!(link.lag_ms(1_000), 999);
    }
}
