//! One run in sim mode: the district of [`SimDistrict`] behind the run driver's
//! [`District`], on the simulated clock. Waiting is running the network's events (and
//! the replicas' ticks) up to a time; nothing else takes simulated time, so every
//! time in the report is the network's.

use super::net::{Dir, Net};
use super::{Inspector, SimDistrict};
use crate::checks::{self, Check};
use crate::driver::{self, District, Lag, LinkState, Pace, Wrote};
use crate::error::SimError;
use crate::ledger::Ledger;
use crate::report::{Report, ZSTD_ENTRIES_MAX, zstd_bytes};
use crate::rng::Rng;
use crate::run::RunConfig;
use crate::topology::Topology;
use crate::workload::Clock;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{SplitReport, SplitRule};
use linli_core::schema::Registries;
use linli_core::write::Write;
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

/// Replicas compact on a tick this often.
const TICK_MS: u64 = 10_000;
/// Samples in a run at most, probes at most: their interval grows with the run. Each
/// probe is a request record, so they are kept few: they must not outweigh the
/// workload in the communities' documents.
const SAMPLES_MAX: u32 = 600;
const PROBES_MAX: u32 = 5_000;

pub fn run_sim(config: RunConfig) -> Result<Report, SimError> {
    let registries = Registries::defaults().map_err(|e| SimError::Run { reason: format!("the registries: {e}") })?;
    let root = Rng::new(config.seed);
    let final_tree = crate::faults::final_topology(&config.topology, &config.faults)?;
    let mut district = SimDistrict::build(
        &config.topology,
        &final_tree,
        registries.clone(),
        crate::run::link_limits(),
        root.fork("net"),
    )?;
    let clock = Clock { start_ms: config.start_ms, speed: config.speed };
    district.net.clock = clock;
    let sim = Rc::new(SimRun {
        district: RefCell::new(district),
        clock,
        closed: RefCell::default(),
        next_tick_ms: Cell::new(TICK_MS),
    });
    block_on(driver::run(sim, &config, &final_tree, registries, 0))
}

/// Sim mode's futures never wait (the clock moves only when the driver asks it to):
/// one poll finishes them.
fn block_on<T, F: std::future::Future<Output = Result<T, SimError>>>(future: F) -> Result<T, SimError> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => Err(SimError::Run { reason: "a sim-mode action waited on something".into() }),
    }
}

/// A sim district driven by the run: the network, the clock, and the nodes that take
/// no writes now. One event at a time: each method borrows the district for its own
/// span only.
pub struct SimRun {
    district: RefCell<SimDistrict>,
    clock: Clock,
    closed: RefCell<BTreeSet<String>>,
    next_tick_ms: Cell<u64>,
}

impl SimRun {
    fn virtual_now(net: &Net, clock: &Clock) -> u64 {
        clock.virtual_ms(net.now_ms as f64) as u64
    }

    /// Runs network events up to `until_ms`, then sets the clock there.
    fn run_net_until(net: &mut Net, until_ms: u64) -> Result<(), SimError> {
        while net.next_at().is_some_and(|at| at <= until_ms) {
            net.step()?;
        }
        net.now_ms = net.now_ms.max(until_ms);
        Ok(())
    }

    /// `f` on the node `id` and the district.
    fn with_node<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut SimDistrict, usize) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        let mut district = self.district.borrow_mut();
        let node = district.node(id)?;
        f(&mut district, node)
    }

    /// `f` on the link of the child `id`.
    fn with_uplink<T>(&self, id: &str, f: impl FnOnce(&mut super::net::Link) -> T) -> Result<T, SimError> {
        self.with_node(id, |district, node| {
            let link = district.uplink(node)?;
            Ok(f(&mut district.net.links[link]))
        })
    }
}

impl District for SimRun {
    const CONCURRENT: bool = false;

    fn now(&self) -> Duration {
        Duration::from_millis(self.district.borrow().net.now_ms)
    }

    async fn wait_until(&self, at: Duration) -> Result<(), SimError> {
        let until_ms = at.as_micros().div_ceil(1_000) as u64;
        let mut district = self.district.borrow_mut();
        let net = &mut district.net;
        while self.next_tick_ms.get() <= until_ms {
            let tick = self.next_tick_ms.get();
            Self::run_net_until(net, tick)?;
            let now = Self::virtual_now(net, &self.clock);
            for node in &mut net.nodes {
                node.tick(now)?;
            }
            net.trim_logs()?;
            self.next_tick_ms.set(tick + TICK_MS);
        }
        Self::run_net_until(net, until_ms)
    }

    fn pace(&self, duration: Duration) -> Pace {
        let probe_gap = (duration / PROBES_MAX).max(Duration::from_secs(1));
        Pace {
            sample_every: (duration / SAMPLES_MAX).max(Duration::from_secs(1)),
            probe_gap,
            probe_pause: Duration::ZERO,
            probe_skip: probe_gap,
            probes_max: PROBES_MAX as usize,
        }
    }

    async fn write(&self, node: &str, write: Write) -> Result<Wrote, SimError> {
        if self.closed.borrow().contains(node) {
            return Ok(Wrote::Down);
        }
        self.with_node(node, |district, i| {
            let now = Self::virtual_now(&district.net, &self.clock);
            match district.net.nodes[i].write(write, now) {
                Ok(Some(written)) => {
                    district.net.pump_node(i)?;
                    Ok(Wrote::Acked(written))
                }
                Ok(None) => Ok(Wrote::Down),
                Err(refused @ SimError::Core { .. }) => Ok(Wrote::Refused(refused)),
                Err(other) => Err(other),
            }
        })
    }

    async fn get(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        self.with_node(node, |district, i| district.net.nodes[i].get(key))
    }

    async fn log_end(&self, node: &str) -> Result<Option<u64>, SimError> {
        self.with_node(node, |district, i| {
            let node = &district.net.nodes[i];
            if !node.is_up() {
                return Ok(None);
            }
            node.log_end().map(Some)
        })
    }

    async fn link(&self, child: &str, parent: &str) -> Result<Option<LinkState>, SimError> {
        let district = self.district.borrow();
        let (c, p) = (district.node(child)?, district.node(parent)?);
        let net = &district.net;
        let Some(link) = net.uplink(c).map(|l| &net.links[l]).filter(|l| l.parent == p) else { return Ok(None) };
        if !net.nodes[c].is_up() || !net.nodes[p].is_up() {
            return Ok(None);
        }
        Ok(Some(LinkState {
            child_end: net.nodes[c].log_end()?,
            parent_end: net.nodes[p].log_end()?,
            applied_up: link.applied_through[Dir::Up as usize],
            applied_down: link.applied_through[Dir::Down as usize],
            sessions: link.sessions,
            connected: link.is_up(),
            idle: link.idle(),
        }))
    }

    async fn lag(&self, child: &str, _parent: &str) -> Result<Lag, SimError> {
        let mut district = self.district.borrow_mut();
        let c = district.node(child)?;
        let net = &mut district.net;
        let Some(link) = net.uplink(c) else { return Ok(Lag::default()) };
        let end = net.nodes[c].log_end().unwrap_or(0);
        let now = net.now_ms;
        let link = &mut net.links[link];
        let entries = end.saturating_sub(link.applied_through[Dir::Up as usize]);
        if entries == 0 {
            link.progress_ms = now;
        }
        Ok(Lag { entries, ms: if entries == 0 { 0 } else { now.saturating_sub(link.progress_ms) } })
    }

    async fn durable_at_top(&self, community: &str) -> Result<Option<u64>, SimError> {
        let district = self.district.borrow();
        let c = district.node(community)?;
        // A community's levels: [at its street, at the district, at the city if there
        // is one]: as many as the top (the first node) is tiers above it.
        let top = district.net.nodes.first().map_or(0, |node| node.tier.height());
        Ok(top.checked_sub(1).and_then(|level| district.net.nodes[c].marks.levels().get(level)).copied())
    }

    fn link_bytes(&self, child: &str) -> Result<u64, SimError> {
        self.with_uplink(child, |link| link.bytes)
    }

    fn bytes_on_links(&self) -> u64 {
        self.district.borrow().net.bytes()
    }

    fn log_entries_max(&self) -> (u64, u64) {
        let district = self.district.borrow();
        let logs = district.net.nodes.iter().filter_map(|node| Some((node.log_end().ok()?, node.log_trimmed().ok()?)));
        logs.fold((0, 0), |(most, written), (end, trimmed)| (most.max(end - trimmed), written.max(end)))
    }

    /// Not measured: it would make two runs of one seed differ (the terminal prints it).
    fn rss_bytes(&self) -> u64 {
        0
    }

    async fn cut(&self, child: &str) -> Result<(), SimError> {
        self.with_node(child, |district, i| district.cut(i).map(drop))
    }

    async fn heal(&self, child: &str) -> Result<(), SimError> {
        self.with_node(child, |district, i| district.heal(i).map(drop))
    }

    async fn set_delay_ms(&self, child: &str, delay_ms: u64) -> Result<(), SimError> {
        self.with_uplink(child, |link| link.delay_ms = delay_ms)
    }

    async fn set_loss_pct(&self, child: &str, loss_pct: f64) -> Result<(), SimError> {
        self.with_uplink(child, |link| link.loss = loss_pct / 100.0)
    }

    async fn set_skew_ms(&self, node: &str, skew_ms: i64) -> Result<(), SimError> {
        self.with_node(node, |district, i| {
            district.net.nodes[i].skew_ms = skew_ms;
            Ok(())
        })
    }

    async fn crash(&self, node: &str) -> Result<(), SimError> {
        self.with_node(node, |district, i| {
            district.crash(i);
            Ok(())
        })
    }

    /// The in-memory store holds exactly what the node made durable: a SIGKILL
    /// leaves what a graceful stop leaves.
    async fn kill(&self, node: &str) -> Result<(), SimError> {
        self.crash(node).await
    }

    async fn wipe(&self, node: &str) -> Result<(), SimError> {
        self.with_node(node, |district, i| {
            district.wipe(i);
            Ok(())
        })
    }

    async fn restart(&self, node: &str) -> Result<(), SimError> {
        self.with_node(node, |district, i| district.restart(i))
    }

    async fn changes_zstd_bytes(&self, node: &str, after: u64, through: u64) -> Result<Option<u64>, SimError> {
        self.with_node(node, |district, i| {
            let count = usize::try_from(through.saturating_sub(after)).unwrap_or(usize::MAX).min(ZSTD_ENTRIES_MAX);
            // Trimmed meanwhile: nothing to compare with.
            let Some(entries) = district.net.nodes[i].log_after_for_link(after, count)? else { return Ok(None) };
            Ok(zstd_bytes(entries.iter().flat_map(|e| e.changes.iter().map(Vec::as_slice))))
        })
    }

    async fn backup(&self, node: &str) -> Result<(), SimError> {
        self.with_node(node, |district, i| {
            district.net.nodes[i].backup();
            Ok(())
        })
    }

    async fn restore(&self, node: &str) -> Result<(), SimError> {
        self.with_node(node, |district, i| district.restore(i))
    }

    async fn close(&self, node: &str) -> Result<Option<u64>, SimError> {
        self.closed.borrow_mut().insert(node.to_string());
        self.log_end(node).await
    }

    async fn reopen(&self, node: &str) -> Result<(), SimError> {
        self.closed.borrow_mut().remove(node);
        Ok(())
    }

    async fn accept(&self, community: &str, to: &str) -> Result<(), SimError> {
        let mut district = self.district.borrow_mut();
        let (community, to) = (district.node(community)?, district.node(to)?);
        district.accept(to, community)
    }

    async fn release(&self, community: &str, from: &str, to: &str) -> Result<(), SimError> {
        let mut district = self.district.borrow_mut();
        let (community, from, to) = (district.node(community)?, district.node(from)?, district.node(to)?);
        district.release(from, to, community)
    }

    async fn begin_split(&self, street: &str, new: &[String]) -> Result<(), SimError> {
        let mut district = self.district.borrow_mut();
        let street = district.node(street)?;
        let new = new.iter().map(|n| district.node(n)).collect::<Result<Vec<_>, _>>()?;
        district.begin_split(street, &new)
    }

    async fn split(&self, street: &str, rule: &SplitRule) -> Result<SplitReport, SimError> {
        self.with_node(street, |district, i| {
            let now = Self::virtual_now(&district.net, &self.clock);
            let report = district.net.nodes[i]
                .split(rule.clone(), now)?
                .ok_or_else(|| SimError::Run { reason: format!("{street} is down: it cannot split") })?;
            district.net.pump_node(i)?;
            Ok(report)
        })
    }

    async fn checks(&self, tree: &Topology, ledger: &Ledger) -> Result<Vec<Check>, SimError> {
        let mut district = self.district.borrow_mut();
        let inspector = Inspector(RefCell::new(&mut *district));
        block_on(checks::run_all(&inspector, tree, ledger))
    }
}
