//! Trimming the change log: how far a node may drop its own log.
//!
//! The log exists to be shipped. An entry every peer has durably applied (its `Ack`
//! came after its checkpoint was synced at the peer) is needed by no one: a reconnect
//! resumes after it. So a node trims below the lowest acknowledgement of its peers,
//! and its log holds what some peer still lacks, not its history. The documents keep
//! the history (Automerge never forgets); the log is only a queue.
//!
//! A peer that stays away (a community whose server is off for a month, a street that
//! lost its disk) would hold the log forever, so the log also keeps at most
//! [`LinkLimits::log_retained_entries_max`] entries behind its end, whoever still
//! lacks them. A peer whose checkpoint falls below the trimmed point is not resumed
//! past entries it never saw: its Hello names the checkpoint, this node's Hello names
//! the trimmed point, and both sides run the repair path (Automerge's sync protocol
//! per shared document) before shipping resumes at the trimmed point
//! ([`super::resume`]). A connected peer is never trimmed under: the retention bound
//! applies to peers away only, and a session that still meets a trimmed log (one
//! that connected while the trim was being written) gets
//! [`crate::error::Error::LogTrimmed`] from the store, ends, and repairs on its next
//! connect.
//!
//! Decided here, without I/O, from what the runtime knows of its links; the server
//! and the simulator both ask this function and send the engine
//! [`crate::replica::Event::TrimLog`].

use super::LinkLimits;

/// What this node knows of one configured peer's hold on its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerHold {
    /// The peer acknowledged this node's log through here (durable at the peer), as
    /// learnt since this node started; `None` when it has not been heard from since.
    pub acked: Option<u64>,
    /// A session with the peer is up now.
    pub connected: bool,
}

/// The seq through which the log may be trimmed now, if that trims at least
/// [`LinkLimits::log_trim_entries_min`] more entries than `trimmed` (the highest seq
/// already gone): trims come in steps, not one per write. `log_end`: the log's last
/// seq, which always stays. `peers`: every peer of this node's config (its parent and
/// children), connected or not.
pub fn trim_through(log_end: u64, trimmed: u64, peers: &[PeerHold], limits: &LinkLimits) -> Option<u64> {
    // Every peer holds the entries through here (one not heard from holds nothing known).
    let held_by_all = peers.iter().map(|p| p.acked.unwrap_or(0)).min().unwrap_or(log_end);
    // Past the retention bound the log goes whoever still lacks it...
    let retained_from = log_end.saturating_sub(limits.log_retained_entries_max);
    // ...except under a connected peer: it is reading there now.
    let connected_floor = peers.iter().filter(|p| p.connected).map(|p| p.acked.unwrap_or(0)).min().unwrap_or(u64::MAX);
    let through = held_by_all.max(retained_from).min(connected_floor).min(log_end.saturating_sub(1));
    (through >= trimmed.saturating_add(limits.log_trim_entries_min.max(1))).then_some(through)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(retained: u64, step: u64) -> LinkLimits {
        LinkLimits { log_retained_entries_max: retained, log_trim_entries_min: step, ..LinkLimits::default() }
    }

    fn peer(acked: Option<u64>, connected: bool) -> PeerHold {
        PeerHold { acked, connected }
    }

    #[test]
    fn the_log_is_trimmed_below_the_lowest_acknowledgement() {
        let peers = [peer(Some(900), true), peer(Some(700), true)];
        assert_eq!(trim_through(1000, 0, &peers, &limits(10_000, 1)), Some(700));
        // Nothing new to trim, or less than a step.
        assert_eq!(trim_through(1000, 700, &peers, &limits(10_000, 1)), None);
        assert_eq!(trim_through(1000, 650, &peers, &limits(10_000, 100)), None);
    }

    #[test]
    fn the_last_entry_always_stays() {
        let peers = [peer(Some(1000), true)];
        assert_eq!(trim_through(1000, 0, &peers, &limits(10_000, 1)), Some(999));
        assert_eq!(trim_through(0, 0, &[], &limits(10_000, 1)), None);
        assert_eq!(trim_through(1, 0, &[], &limits(10_000, 1)), None);
    }

    #[test]
    fn a_peer_away_holds_the_log_up_to_the_retention_bound_only() {
        // Never heard from since the start, or heard and gone.
        for away in [peer(None, false), peer(Some(10), false)] {
            let peers = [peer(Some(5000), true), away];
            assert_eq!(trim_through(5000, 0, &peers, &limits(1000, 1)), Some(4000));
            assert_eq!(trim_through(1500, 0, &peers, &limits(1000, 1)), Some(500));
        }
    }

    #[test]
    fn a_connected_peer_is_never_trimmed_under() {
        // Far behind but reading: the retention bound waits for it.
        let peers = [peer(Some(5000), true), peer(Some(100), true)];
        assert_eq!(trim_through(5000, 0, &peers, &limits(1000, 1)), Some(100));
        // Connected, its acknowledgement not known yet: nothing goes.
        let peers = [peer(Some(5000), true), peer(None, true)];
        assert_eq!(trim_through(5000, 0, &peers, &limits(1000, 1)), None);
    }
}
