//! The tree changing shape under load, as operators change it: a community moved to
//! another street, a community split in two. Each is a sequence of config changes and
//! restarts with a hand-over between them, so that nothing a node acknowledged is left
//! where no link ships it any more.

use super::{RealDistrict, Slot, Up, log_and_links_of, shut, start_node};
use crate::error::SimError;
use linli_core::replica::{SplitReport, SplitRule};
use linli_node::config::ServerConfig;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A hand-over waits this long at most for a log to be applied where it must be.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a hand-over looks again.
const HANDOVER_POLL: Duration = Duration::from_millis(10);

/// Whether a hand-over that started at `started` may wait on; `what` says how far it
/// got when it may not.
fn overdue(started: Instant, what: impl FnOnce() -> String) -> Result<(), SimError> {
    if started.elapsed() > HANDOVER_TIMEOUT {
        return Err(SimError::Run { reason: format!("{} after {} s", what(), HANDOVER_TIMEOUT.as_secs()) });
    }
    Ok(())
}

impl RealDistrict {
    /// Stops the node of `slot` (`running`, taken from its gate, which the caller
    /// holds), changes its config and starts it again.
    async fn restart_changed(
        &self,
        slot: &Slot,
        running: Up,
        change: impl FnOnce(&mut ServerConfig),
    ) -> Result<Up, SimError> {
        let mut config = slot.config();
        shut(&config.id, running).await?;
        change(&mut config);
        *slot.config.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = config.clone();
        let process = slot.process.load(Ordering::SeqCst);
        Ok(start_node(config, self.registries.clone(), process, self.bins.as_ref()).await?.0)
    }

    /// Restarts `node` with its config changed by `change`.
    async fn reconfigure(&self, node: &str, change: impl FnOnce(&mut ServerConfig)) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        let running =
            up.take().ok_or_else(|| SimError::Run { reason: format!("{node} is down: it cannot change now") })?;
        *up = Some(self.restart_changed(slot, running, change).await?);
        Ok(())
    }

    /// How far `node` has applied `peer`'s log (0 while down or never linked).
    async fn applied(&self, node: &str, peer: &str) -> Result<u64, SimError> {
        Ok(self.links(node).await?.get(peer).map_or(0, |s| s.applied_through))
    }

    /// Moves `community` from the street `from` to the street `to`, as an operator
    /// does it, while the rest of the district goes on working:
    ///
    /// 1. `to` restarts with the community among its children;
    /// 2. `from` takes no writes while it hands over: everything in its log until now
    ///    is applied at `district` and at the community (once it no longer covers the
    ///    community, its entries for it go nowhere: a write it acknowledged for the
    ///    community and had not shipped would be lost); then it restarts without the
    ///    community and forgets its documents;
    /// 3. the community's uplink is re-patched to `to` and the community restarts; it
    ///    and `to` ship each other their logs from the start.
    ///
    /// The hand-over waits [`HANDOVER_TIMEOUT`] at most; past it the move fails.
    pub async fn reparent(&self, community: &str, from: &str, to: &str, district: &str) -> Result<(), SimError> {
        self.reconfigure(to, |c| c.children.push(community.to_string())).await?;
        let slot = self.slot(from)?;
        let mut up = slot.up.write().await;
        let down = || SimError::Run { reason: format!("{from} is down: {community} cannot leave it now") };
        let running = up.take().ok_or_else(down)?;
        let (end, _) = log_and_links_of(&running).await?;
        let started = Instant::now();
        loop {
            let (at_top, at_community) = (self.applied(district, from).await?, self.applied(community, from).await?);
            if at_top >= end && at_community >= end {
                break;
            }
            if let Err(e) = overdue(started, || {
                format!(
                    "moving {community}: {from}'s log through {end} is applied at {district} through {at_top} and \
                     at {community} through {at_community}"
                )
            }) {
                *up = Some(running);
                return Err(e);
            }
            tokio::time::sleep(HANDOVER_POLL).await;
        }
        *up = Some(self.restart_changed(slot, running, |c| c.children.retain(|child| child != community)).await?);
        drop(up);

        self.stop(community).await?;
        self.proxy(community)?.retarget(self.addr(to)?);
        self.restart(community).await
    }

    /// Splits `community` (under `street`) by `rule`, as an operator does it with the
    /// rest of the district at work:
    ///
    /// 1. `street` restarts with the new communities among its children, and they start;
    /// 2. the community stops taking writes (its staff moved to the new communities)
    ///    and the street applies everything in its log (a split moves only what the
    ///    node that runs it holds);
    /// 3. the street runs the split; the copies travel down to the new communities and
    ///    up to the district, the `moved_to` marks down to the old community.
    ///
    /// The wait of 2. is bounded by [`HANDOVER_TIMEOUT`]; past it the split fails.
    pub async fn split(&self, community: &str, street: &str, rule: &SplitRule) -> Result<SplitReport, SimError> {
        let new: BTreeSet<String> = rule.to.values().chain(&rule.default_to).cloned().collect();
        self.reconfigure(street, |c| c.children.extend(new.iter().cloned())).await?;
        for id in &new {
            self.restart(id).await?;
        }
        let slot = self.slot(community)?;
        let up = slot.up.write().await;
        slot.retired.store(true, Ordering::SeqCst);
        let down = || SimError::Run { reason: format!("{community} is down: it cannot be split now") };
        let (end, _) = log_and_links_of(up.as_ref().ok_or_else(down)?).await?;
        let started = Instant::now();
        loop {
            let applied = self.applied(street, community).await?;
            if applied >= end {
                break;
            }
            overdue(started, || {
                format!("splitting {community}: its log through {end} is applied at {street} through {applied}")
            })?;
            tokio::time::sleep(HANDOVER_POLL).await;
        }
        let at_street = self.slot(street)?.up.read().await;
        let report = match at_street.as_ref() {
            Some(Up::Here(served)) => served
                .running
                .engine
                .split_async(rule.clone())
                .await
                .map_err(|e| SimError::Node { node: street.to_string(), source: Box::new(e) })?,
            Some(Up::Process(process)) => process.split(rule).await?,
            None => return Err(SimError::Run { reason: format!("{street} is down: it cannot split {community}") }),
        };
        drop(up);
        Ok(report)
    }
}
