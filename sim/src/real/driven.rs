//! A real district driven by the run: [`RealDistrict`] behind the run driver's
//! [`District`], on the wall clock from the workload's start.

use super::RealDistrict;
use crate::checks::{self, Check};
use crate::driver::{District, Lag, LinkState, Pace, Wrote};
use crate::error::SimError;
use crate::ledger::Ledger;
use crate::report;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{SplitReport, SplitRule};
use linli_core::write::Write;
use std::time::{Duration, Instant};

pub struct RealRun {
    pub district: RealDistrict,
    pub started: Instant,
}

impl District for RealRun {
    const CONCURRENT: bool = true;

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    async fn wait_until(&self, at: Duration) -> Result<(), SimError> {
        tokio::time::sleep_until((self.started + at).into()).await;
        Ok(())
    }

    /// As many probes as the district answers, one at a time; a sample a second.
    fn pace(&self, _duration: Duration) -> Pace {
        Pace {
            sample_every: Duration::from_secs(1),
            probe_gap: Duration::ZERO,
            probe_pause: Duration::from_millis(50),
            probe_skip: Duration::from_millis(20),
            probes_max: 20_000,
        }
    }

    async fn write(&self, node: &str, write: Write) -> Result<Wrote, SimError> {
        match self.district.write(node, write).await {
            Ok(Some(written)) => Ok(Wrote::Acked(written)),
            Ok(None) => Ok(Wrote::Down),
            Err(refused @ SimError::Node { .. }) => Ok(Wrote::Refused(refused)),
            Err(other) => Err(other),
        }
    }

    async fn get(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        self.district.get(node, key).await
    }

    async fn log_end(&self, node: &str) -> Result<Option<u64>, SimError> {
        self.district.log_end(node).await
    }

    async fn link(&self, child: &str, parent: &str) -> Result<Option<LinkState>, SimError> {
        let Some((child_end, child_links)) = self.district.log_and_links(child).await? else { return Ok(None) };
        let Some((parent_end, parent_links)) = self.district.log_and_links(parent).await? else { return Ok(None) };
        let at_parent = parent_links.get(child);
        Ok(Some(LinkState {
            child_end,
            parent_end,
            applied_up: at_parent.map_or(0, |s| s.applied_through),
            applied_down: child_links.get(parent).map_or(0, |s| s.applied_through),
            sessions: at_parent.map_or(0, |s| s.sessions),
            connected: at_parent.is_some_and(|s| s.connected),
            idle: true,
        }))
    }

    /// As the parent knows the child's log end (it keeps it while the child is down).
    async fn lag(&self, child: &str, parent: &str) -> Result<Lag, SimError> {
        let at_parent = self.district.links(parent).await?.remove(child);
        let ms = at_parent.as_ref().map_or(0, |l| l.lag_ms(linli_node::link::status::now_ms()));
        // The child's backlog: a parent cannot know what a cut-off child wrote.
        let entries = match self.district.log_and_links(child).await? {
            Some((end, links)) => links.get(parent).map_or(end, |l| end.saturating_sub(l.acked_through)),
            None => at_parent.map_or(0, |l| l.lag_changes()),
        };
        Ok(Lag { entries, ms })
    }

    async fn durable_at_top(&self, community: &str) -> Result<Option<u64>, SimError> {
        let links = self.district.links(community).await?;
        Ok(links.values().find(|l| l.parent).and_then(|l| l.durable_above.last().copied()))
    }

    fn link_bytes(&self, child: &str) -> Result<u64, SimError> {
        Ok(self.district.proxy(child)?.bytes())
    }

    fn bytes_on_links(&self) -> u64 {
        self.district.bytes_on_links()
    }

    fn log_entries_max(&self) -> (u64, u64) {
        self.district.log_entries_max()
    }

    fn rss_bytes(&self) -> u64 {
        report::rss_bytes() + self.district.processes_rss_bytes()
    }

    async fn cut(&self, child: &str) -> Result<(), SimError> {
        self.district.proxy(child)?.cut();
        Ok(())
    }

    async fn heal(&self, child: &str) -> Result<(), SimError> {
        self.district.proxy(child)?.heal();
        Ok(())
    }

    async fn set_delay_ms(&self, child: &str, delay_ms: u64) -> Result<(), SimError> {
        self.district.proxy(child)?.set_delay_ms(delay_ms);
        Ok(())
    }

    async fn set_loss_pct(&self, child: &str, loss_pct: f64) -> Result<(), SimError> {
        self.district.proxy(child)?.set_loss_pct(loss_pct);
        Ok(())
    }

    async fn set_skew_ms(&self, node: &str, skew_ms: i64) -> Result<(), SimError> {
        self.district.set_skew_ms(node, skew_ms)
    }

    async fn crash(&self, node: &str) -> Result<(), SimError> {
        self.district.stop(node).await
    }

    async fn kill(&self, node: &str) -> Result<(), SimError> {
        self.district.kill(node).await
    }

    async fn wipe(&self, node: &str) -> Result<(), SimError> {
        self.district.wipe(node).await
    }

    async fn restart(&self, node: &str) -> Result<(), SimError> {
        self.district.restart(node).await
    }

    async fn changes_zstd_bytes(&self, node: &str, after: u64, through: u64) -> Result<Option<u64>, SimError> {
        self.district.changes_zstd_bytes(node, after, through).await
    }

    async fn backup(&self, node: &str) -> Result<(), SimError> {
        self.district.backup(node).await
    }

    async fn restore(&self, node: &str) -> Result<(), SimError> {
        self.district.restore(node).await
    }

    async fn close(&self, node: &str) -> Result<Option<u64>, SimError> {
        self.district.close(node).await
    }

    async fn reopen(&self, node: &str) -> Result<(), SimError> {
        self.district.reopen(node)
    }

    async fn accept(&self, community: &str, to: &str) -> Result<(), SimError> {
        self.district.accept(community, to).await
    }

    async fn release(&self, community: &str, from: &str, to: &str) -> Result<(), SimError> {
        self.district.release(community, from, to).await
    }

    async fn begin_split(&self, street: &str, new: &[String]) -> Result<(), SimError> {
        self.district.begin_split(street, new).await
    }

    async fn split(&self, street: &str, rule: &SplitRule) -> Result<SplitReport, SimError> {
        self.district.split(street, rule).await
    }

    /// Every process is adopted first, so the checks read every node directly.
    async fn checks(&self, tree: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError> {
        self.district.adopt_all().await?;
        checks::run_all(&self.district, tree, ledger).await
    }
}
