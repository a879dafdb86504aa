//! The tree changing shape under load, as operators change it: a community moved to
//! another street, a community split in two. Each is a sequence of config changes and
//! restarts with a hand-over between them, so that nothing a node acknowledged is left
//! where no link ships it any more; the run driver waits for each hand-over between
//! the steps here.

use super::{RealDistrict, log_and_links_of, shut, start_node};
use crate::error::SimError;
use linli_core::replica::{SplitReport, SplitRule};
use linli_node::config::{ServerConfig, Transport};
use std::sync::atomic::Ordering;

impl RealDistrict {
    /// Restarts `node` with its config changed by `change`.
    async fn reconfigure(&self, node: &str, change: impl FnOnce(&mut ServerConfig)) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        let running =
            up.take().ok_or_else(|| SimError::Run { reason: format!("{node} is down: it cannot change now") })?;
        let mut config = slot.config();
        shut(&config.id, running).await?;
        change(&mut config);
        // `--forget` is a word for this start only, as an operator would give it.
        let kept = ServerConfig { forget: Vec::new(), ..config.clone() };
        *slot.config.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = kept;
        let process = slot.process.load(Ordering::SeqCst);
        *up = Some(start_node(config, self.registries.clone(), process, self.bins.as_ref()).await?.0);
        Ok(())
    }

    /// `node` takes no more of the workload's writes, once those in flight there are
    /// answered; the end of its log then (`None` while it is down).
    pub async fn close(&self, node: &str) -> Result<Option<u64>, SimError> {
        let slot = self.slot(node)?;
        let up = slot.up.write().await;
        slot.closed.store(true, Ordering::SeqCst);
        match up.as_ref() {
            Some(running) => Ok(Some(log_and_links_of(running).await?.0)),
            None => Ok(None),
        }
    }

    pub fn reopen(&self, node: &str) -> Result<(), SimError> {
        self.slot(node)?.closed.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// A move's first step: the street `to` restarts with `community` among its
    /// children. The old street then stops taking writes (see [`Self::close`]) and
    /// hands over: everything in its log until then applied at the district and at
    /// the community (once it no longer covers the community, its entries for it go
    /// nowhere: a write it acknowledged for the community and had not shipped would be
    /// lost).
    pub async fn accept(&self, community: &str, to: &str) -> Result<(), SimError> {
        self.reconfigure(to, |c| c.children.push(community.to_string())).await
    }

    /// A move's last step, once `from` handed over: it restarts without the community
    /// and, told with `--forget`, forgets its documents; the community's uplink is re-patched to `to` and
    /// the community restarts. It and `to` ship each other their logs from the start.
    pub async fn release(&self, community: &str, from: &str, to: &str) -> Result<(), SimError> {
        self.reconfigure(from, |c| {
            c.children.retain(|child| child != community);
            c.forget = vec![community.to_string()];
        })
        .await?;
        self.stop(community).await?;
        self.proxy(community)?.retarget(self.addr(to)?);
        // Over TLS the community checks that its parent's certificate names `to` now.
        let slot = self.slot(community)?;
        if let Transport::MutualTls { parent_id, .. } =
            &mut slot.config.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).transport
        {
            *parent_id = Some(to.to_string());
        }
        self.restart(community).await
    }

    /// A split's first step (`docs/split.md`): `street` restarts with the new
    /// communities among its children, and they start. The old community then stops
    /// taking writes (its staff moved) and the street applies everything in its log (a
    /// split moves only what the node that runs it holds).
    pub async fn begin_split(&self, street: &str, new: &[String]) -> Result<(), SimError> {
        self.reconfigure(street, |c| c.children.extend(new.iter().cloned())).await?;
        for id in new {
            self.restart(id).await?;
        }
        Ok(())
    }

    /// `street` runs the split; the copies travel down to the new communities and up
    /// to the district, the `moved_to` marks down to the old community.
    pub async fn split(&self, street: &str, rule: &SplitRule) -> Result<SplitReport, SimError> {
        let at_street = self.slot(street)?.up.read().await;
        match at_street.as_ref() {
            Some(super::Up::Here(served)) => served
                .running
                .engine
                .split_async(rule.clone())
                .await
                .map_err(|e| SimError::Node { node: street.to_string(), source: Box::new(e) }),
            Some(super::Up::Process(process)) => process.split(rule).await,
            None => Err(SimError::Run { reason: format!("{street} is down: it cannot split") }),
        }
    }
}
