//! Trims this node's log below what its peers hold, within the retention bound: the
//! decision is core's (`linli_core::link::trim`), from what this node's links learnt
//! since it started; this task asks it every [`TRIM_EVERY_MS`] and has the engine trim.

use super::pump::Shared;
use super::status::LinkStatus;
use linli_core::link::{PeerHold, trim_through};
use linli_core::store::Storage;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// How often the log is looked at. Trims come in steps of at least
/// `link.log_trim_entries_min` entries, so most looks write nothing.
pub const TRIM_EVERY_MS: u64 = 10_000;

/// What this node knows of each configured peer's hold on its log: every child of the
/// config, and the parent if one is configured (its id is learnt from its Hello: the
/// link whose session had it as the parent).
pub fn holds(links: &BTreeMap<String, LinkStatus>, children: &BTreeSet<String>, has_parent: bool) -> Vec<PeerHold> {
    let hold = |status: Option<&LinkStatus>| match status {
        // Heard from since the start: its acknowledgement is durable at the peer.
        Some(s) if s.sessions > 0 => PeerHold { acked: Some(s.acked_through), connected: s.connected },
        _ => PeerHold { acked: None, connected: false },
    };
    let mut holds: Vec<PeerHold> = children.iter().map(|child| hold(links.get(child))).collect();
    if has_parent {
        let parent = links.iter().find(|(peer, s)| s.parent && !children.contains(*peer)).map(|(_, s)| s);
        holds.push(hold(parent));
    }
    holds
}

/// Runs until shutdown.
pub async fn run(shared: Arc<Shared>, children: BTreeSet<String>, has_parent: bool) {
    let mut shutdown = shared.shutdown.clone();
    let mut every = tokio::time::interval(Duration::from_millis(TRIM_EVERY_MS));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let holds = holds(&shared.links.all(), &children, has_parent);
        let log_end = *shared.engine.log_end().borrow();
        let trimmed = match shared.engine.store().and_then(|store| Ok(store.log_trimmed()?)) {
            Ok(trimmed) => trimmed,
            Err(e) => {
                tracing::warn!(error = %e, "log trimming: cannot read the log's start");
                continue;
            }
        };
        let Some(through) = trim_through(log_end, trimmed, &holds, &shared.link) else { continue };
        match shared.engine.trim_log_async(through).await {
            Ok(()) => tracing::debug!(through, log_end, "log trimmed"),
            Err(e) => tracing::warn!(error = %e, through, "log trimming failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(sessions: u64, acked: u64, connected: bool) -> LinkStatus {
        LinkStatus { sessions, acked_through: acked, connected, ..LinkStatus::default() }
    }

    fn parent(sessions: u64, acked: u64, connected: bool) -> LinkStatus {
        LinkStatus { parent: true, ..status(sessions, acked, connected) }
    }

    #[test]
    fn every_configured_peer_holds_the_log_known_or_not() {
        let children: BTreeSet<String> = ["c1", "c2"].map(String::from).into();
        let links = BTreeMap::from([
            ("c1".to_string(), status(2, 40, true)),
            ("s".to_string(), parent(1, 90, false)),
            // A child that left this node before the start: not a peer of its log.
            ("gone".to_string(), status(3, 0, false)),
        ]);
        let got = holds(&links, &children, true);
        let expected = [
            PeerHold { acked: Some(40), connected: true },
            PeerHold { acked: None, connected: false },
            PeerHold { acked: Some(90), connected: false },
        ];
        assert_eq!(got, expected);
        assert_eq!(holds(&links, &children, false).len(), 2, "no parent configured: only the children");
    }
}
