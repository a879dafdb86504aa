//! One run in sim mode: the workload, probes, faults and samples as events on the
//! simulated clock, interleaved with the network's events, then settle, measure,
//! check, report. Every time in the report is simulated time.

use super::net::{Delivered, Dir, Stepped};
use super::{Inspector, SimDistrict};
use crate::checks::{self, Check};
use crate::error::SimError;
use crate::faults::FaultKind;
use crate::ledger::Ledger;
use crate::report::{self, CatchUp, Idle, Report, Sample, SplitDone};
use crate::rng::Rng;
use crate::run::{RunConfig, Tally, parent_of, split_ledger};
use crate::topology::Topology;
use crate::workload::community::WRITES_PER_ARRIVAL;
use crate::workload::{Clock, CommunityLoad, Decision, WAITS_MAX};
use linli_core::ids::RecordKey;
use linli_core::schema::Registries;
use linli_core::write::Write;
use serde_json::json;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Simulated ms a step waits before it looks again (replicating, or a down node).
const RETRY_MS: u64 = 500;
/// Probes: one in flight, at most one per this gap. Each is a request record, so
/// they are kept few: they must not outweigh the workload in the communities' documents.
const PROBE_GAP_MS: u64 = 1_000;
const PROBE_TIMEOUT_MS: u64 = 10_000;
const PROBES_MAX: usize = 5_000;
/// Samples in a run at most: their interval grows with the run.
const SAMPLES_MAX: u64 = 600;
/// Replicas compact on a tick this often.
const TICK_MS: u64 = 10_000;
/// How often the settle phase looks whether the links are quiet.
const SETTLE_POLL_MS: u64 = 250;
/// A move's hand-over (the old street's log applied at the district and the
/// community) and a split's wait (the community's log applied at its street): how
/// often they look, and how long they may wait.
const HANDOVER_POLL_MS: u64 = 50;
const HANDOVER_MS_MAX: u64 = 60_000;

#[derive(Debug, Clone, Copy)]
enum Due {
    Fault {
        index: usize,
        end: bool,
    },
    /// A move waiting for its old street to hand over, by fault index.
    Handover(usize),
    /// A split waiting for its street to hold all of the community's log.
    Splitting(usize),
    Load(usize),
    Probe,
    Sample,
    Tick,
}

struct Probe {
    key: RecordKey,
    street: String,
    sent_ms: u64,
}

struct Pending {
    node: usize,
    kind: FaultKind,
    down_ms: u64,
    target: u64,
    healed_ms: u64,
    bytes_before: u64,
    link: usize,
}

/// A move begun: the new street took the community, the old one is handing over.
struct Moving {
    community: usize,
    from: usize,
    to: usize,
    /// The old street's log end when the move began: applied at the district and at
    /// the community, the hand-over is done.
    end: u64,
    started_ms: u64,
}

/// A split begun: the community stopped writing, its street is catching up with it.
struct Splitting {
    community: usize,
    street: usize,
    end: u64,
    started_ms: u64,
}

struct Sim {
    district: SimDistrict,
    config: RunConfig,
    clock: Clock,
    loads: Vec<CommunityLoad>,
    /// The node index of each load's community and street.
    writers: Vec<(usize, usize)>,
    due: BTreeMap<(u64, u64), Due>,
    next_due: u64,
    ledger: Ledger,
    tally: Tally,
    rng: Rng,
    faulted: BTreeSet<usize>,
    probe: Option<Probe>,
    latencies: Vec<(String, Duration)>,
    catching_up: Vec<Pending>,
    catch_ups: Vec<CatchUp>,
    moving: BTreeMap<usize, Moving>,
    splitting: BTreeMap<usize, Splitting>,
    splits: Vec<SplitDone>,
    /// Loads of communities that were split: they write no more.
    retired: BTreeSet<usize>,
    samples: Vec<Sample>,
    sample_ms: u64,
    end_ms: u64,
}

pub fn run_sim(config: RunConfig) -> Result<Report, SimError> {
    let registries = Registries::defaults().map_err(|e| SimError::Run { reason: format!("the registries: {e}") })?;
    let root = Rng::new(config.seed);
    let final_tree = crate::faults::final_topology(&config.topology, &config.faults)?;
    let district = SimDistrict::build(
        &config.topology,
        &final_tree,
        registries.clone(),
        crate::run::link_limits(),
        root.fork("net"),
    )?;
    let clock = Clock { start_ms: config.start_ms, speed: config.speed };
    let end_ms = config.duration.as_millis() as u64;
    let arrivals_per_ms = config.rate / WRITES_PER_ARRIVAL / 1e3 / config.speed;
    let mut loads = Vec::new();
    let mut writers = Vec::new();
    for street in &config.topology.streets {
        for community in &street.communities {
            loads.push(CommunityLoad::new(
                community.clone(),
                &street.id,
                root.fork(&community.id),
                clock.start_ms,
                arrivals_per_ms,
            ));
            writers.push((district.node(&community.id)?, district.node(&street.id)?));
        }
    }
    // The communities a split makes start writing when it runs.
    for split in config.faults.iter().filter(|f| f.kind == FaultKind::Split) {
        for id in Topology::split_into(&split.node) {
            let street = final_tree.street_of(&id).unwrap_or_default().to_string();
            let profile = final_tree.community(&id).cloned().ok_or_else(|| SimError::NoNode { node: id.clone() })?;
            let from_ms = clock.virtual_ms(split.start_ms as f64);
            loads.push(CommunityLoad::new(profile, &street, root.fork(&id), from_ms, arrivals_per_ms));
            writers.push((district.node(&id)?, district.node(&street)?));
        }
    }
    let mut sim = Sim {
        district,
        clock,
        loads,
        writers,
        due: BTreeMap::new(),
        next_due: 0,
        ledger: Ledger::new(registries),
        tally: Tally::default(),
        rng: root.fork("probes"),
        faulted: BTreeSet::new(),
        probe: None,
        latencies: Vec::new(),
        catching_up: Vec::new(),
        catch_ups: Vec::new(),
        moving: BTreeMap::new(),
        splitting: BTreeMap::new(),
        splits: Vec::new(),
        retired: BTreeSet::new(),
        samples: Vec::new(),
        sample_ms: (end_ms / SAMPLES_MAX).max(1_000),
        end_ms,
        config,
    };
    sim.district_centre()?;
    for i in 0..sim.loads.len() {
        sim.schedule_load(i);
    }
    for (index, fault) in sim.config.faults.clone().iter().enumerate() {
        sim.at(fault.start_ms, Due::Fault { index, end: false });
        if !matches!(fault.kind, FaultKind::Move | FaultKind::Split) {
            sim.at(fault.end_ms, Due::Fault { index, end: true });
        }
    }
    sim.at(500, Due::Probe);
    sim.at(0, Due::Sample);
    sim.at(TICK_MS, Due::Tick);

    sim.workload()?;
    let settle_started = sim.now();
    let settled = sim.settle()?;
    let settle_ms = sim.now() - settle_started;
    sim.sample();
    let idle = sim.idle_reconnect()?;

    let mut checks = vec![Check::new("settled", settled, format!("quiet after {settle_ms} ms"))];
    let bytes = sim.district.net.bytes();
    let Sim { mut district, config, tally, mut ledger, latencies, catch_ups, splits, samples, .. } = sim;
    split_ledger(&mut ledger, &config)?;
    let inspector = Inspector(RefCell::new(&mut district));
    checks.extend(block_on(checks::run_all(&inspector, &final_tree, &ledger))?);
    Ok(report::build(report::Inputs {
        config: &config,
        boot_ms: 0,
        workload_ms: end_ms,
        settle_ms,
        end_virtual_ms: clock.virtual_ms(end_ms as f64),
        tally: &tally,
        ledger_writes: ledger.writes(),
        records: ledger.records().len(),
        latencies,
        catch_ups,
        splits,
        idle,
        samples,
        bytes_on_links: bytes,
        checks,
    }))
}

/// The checks are written once for both modes, as futures; here nothing in them
/// waits, so one poll finishes them.
fn block_on<T, F: std::future::Future<Output = Result<T, SimError>>>(future: F) -> Result<T, SimError> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => Err(SimError::Run { reason: "the checks waited on something in sim mode".into() }),
    }
}

impl Sim {
    fn now(&self) -> u64 {
        self.district.net.now_ms
    }

    fn at(&mut self, at_ms: u64, due: Due) {
        self.next_due += 1;
        self.due.insert((at_ms, self.next_due), due);
    }

    fn virtual_now(&self) -> i64 {
        self.clock.virtual_ms(self.now() as f64)
    }

    fn schedule_load(&mut self, i: usize) {
        let due = self.loads[i].next_due_ms();
        let at = self.clock.wall_ms(due).max(0.0).ceil() as u64;
        if at < self.end_ms {
            self.at(at.max(self.now()), Due::Load(i));
        }
    }

    /// Runs network events up to `until_ms`, then sets the clock there.
    fn run_net_until(&mut self, until_ms: u64) -> Result<(), SimError> {
        while self.district.net.next_at().is_some_and(|at| at <= until_ms) {
            if let Stepped::Delivered(delivered) = self.district.net.step()? {
                self.on_delivered(delivered)?;
            }
        }
        self.district.net.now_ms = self.district.net.now_ms.max(until_ms);
        Ok(())
    }

    /// The workload's span: every due event in time order with the network's.
    fn workload(&mut self) -> Result<(), SimError> {
        while let Some(((at_ms, _), due)) = self.due.pop_first() {
            if at_ms > self.end_ms {
                self.due.insert((at_ms, 0), due);
                break;
            }
            self.run_net_until(at_ms)?;
            match due {
                Due::Load(i) => self.load_step(i)?,
                Due::Probe => self.probe_step()?,
                Due::Fault { index, end } => self.fault(index, end)?,
                Due::Handover(index) => self.handover(index)?,
                Due::Splitting(index) => self.split_when_caught_up(index)?,
                Due::Sample => {
                    self.sample();
                    self.at(at_ms + self.sample_ms, Due::Sample);
                }
                Due::Tick => self.tick(at_ms)?,
            }
        }
        self.run_net_until(self.end_ms)
    }

    fn tick(&mut self, at_ms: u64) -> Result<(), SimError> {
        let now = self.virtual_now() as u64;
        for node in &mut self.district.net.nodes {
            node.tick(now)?;
        }
        self.at(at_ms + TICK_MS, Due::Tick);
        Ok(())
    }

    /// The district's own record, broadcast to every community: its service centre.
    fn district_centre(&mut self) -> Result<(), SimError> {
        let centre = Write::create(
            &self.config.topology.district,
            "sites",
            &[("kind", json!("district_centre")), ("name", json!("区党群服务中心")), ("open_24h", json!(true))],
        );
        let node = self.district.node(&self.config.topology.district)?;
        let now = self.virtual_now() as u64;
        if let Some(written) = self.district.net.nodes[node].write(centre.clone(), now)? {
            self.ledger.acknowledge(&centre, &written)?;
            self.tally.acked.fetch_add(1, Ordering::Relaxed);
        }
        self.district.net.pump_node(node)
    }

    fn load_step(&mut self, i: usize) -> Result<(), SimError> {
        if self.retired.contains(&i) {
            return Ok(());
        }
        let now_virtual = self.virtual_now();
        let retry_virtual_ms = (RETRY_MS as f64 * self.clock.speed) as i64;
        let action = self.loads[i].pop();
        let (community, street) = self.writers[i];
        let writer = if action.writer == self.loads[i].id { community } else { street };
        let record = match action.step.reads() {
            Some(key) => self.district.net.nodes[writer].get(key)?,
            None => None,
        };
        let write = match self.loads[i].decide(&action, now_virtual, record.as_ref()) {
            Decision::Write(write) => Some(write),
            Decision::Skip => None,
            Decision::Wait => {
                self.tally.waits.fetch_add(1, Ordering::Relaxed);
                if action.waits < WAITS_MAX {
                    self.loads[i].retry(action.clone(), retry_virtual_ms);
                } else {
                    self.tally.abandoned.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
        };
        if let Some(write) = write {
            match self.district.net.nodes[writer].write(write.clone(), now_virtual as u64) {
                Ok(Some(written)) => {
                    self.ledger.acknowledge(&write, &written)?;
                    self.tally.acked.fetch_add(1, Ordering::Relaxed);
                    self.loads[i].after(&action, &write, &written.key, now_virtual);
                    self.district.net.pump_node(writer)?;
                }
                Ok(None) => {
                    self.tally.down.fetch_add(1, Ordering::Relaxed);
                    self.loads[i].retry(action, retry_virtual_ms);
                }
                // Refused: the record moved at the writer between the read and the
                // write cannot happen here (one event at a time), but a step on a
                // record its writer no longer holds can; it looks again.
                Err(SimError::Core { node, source }) => {
                    tracing::debug!(%node, step = action.step.name(), error = %source, "write refused");
                    self.tally.refused.fetch_add(1, Ordering::Relaxed);
                    if action.step.reads().is_some() && action.waits < WAITS_MAX {
                        self.loads[i].retry(action, retry_virtual_ms);
                    } else {
                        self.tally.abandoned.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Err(other) => return Err(other),
            }
        }
        self.schedule_load(i);
        Ok(())
    }

    /// Writes one request at a community whose path has no fault, and times it until
    /// the district holds it (checked as batches reach the district).
    fn probe_step(&mut self) -> Result<(), SimError> {
        let now = self.now();
        if let Some(probe) = &self.probe {
            if now - probe.sent_ms > PROBE_TIMEOUT_MS {
                self.probe = None;
            } else {
                self.at(now + PROBE_GAP_MS, Due::Probe);
                return Ok(());
            }
        }
        if self.latencies.len() >= PROBES_MAX {
            return Ok(());
        }
        let gap = (self.end_ms / PROBES_MAX as u64).max(PROBE_GAP_MS);
        if self.writers.is_empty() {
            return Ok(());
        }
        // `range` is inclusive.
        let pick = self.rng.range(0, self.writers.len() as u64 - 1) as usize;
        let (community, street) = self.writers[pick];
        if [community, street, 0].iter().any(|n| self.faulted.contains(n)) {
            self.at(now + gap, Due::Probe);
            return Ok(());
        }
        let community_id = self.loads[pick].id.clone();
        let write = Write::create(
            &community_id,
            "requests",
            &[
                ("category", json!("other")),
                ("channel", json!("qr_code")),
                ("grid", json!("第1网格")),
                ("summary", json!(format!("探针 #{}", self.latencies.len()))),
                ("reported_at", json!(self.virtual_now())),
            ],
        );
        let now_virtual = self.virtual_now() as u64;
        if let Some(written) = self.district.net.nodes[community].write(write.clone(), now_virtual)? {
            self.ledger.acknowledge(&write, &written)?;
            let street_id = self.loads[pick].street.clone();
            self.probe = Some(Probe { key: written.key, street: street_id, sent_ms: now });
            self.district.net.pump_node(community)?;
        }
        self.at(now + gap, Due::Probe);
        Ok(())
    }

    fn on_delivered(&mut self, delivered: Delivered) -> Result<(), SimError> {
        if delivered.receiver == 0
            && let Some(probe) = &self.probe
            && self.district.net.nodes[0].get(&probe.key)?.is_some()
        {
            let latency = Duration::from_millis(self.now() - probe.sent_ms);
            self.latencies.push((probe.street.clone(), latency));
            self.probe = None;
        }
        if delivered.dir == Dir::Up {
            self.check_catch_ups(delivered.link);
        }
        Ok(())
    }

    fn check_catch_ups(&mut self, link: usize) {
        let now = self.now();
        let net = &self.district.net;
        let mut still = Vec::new();
        for pending in std::mem::take(&mut self.catching_up) {
            if pending.link == link && net.links[link].applied_through[Dir::Up as usize] >= pending.target {
                self.catch_ups.push(CatchUp {
                    node: net.nodes[pending.node].id.to_string(),
                    kind: pending.kind,
                    down_ms: pending.down_ms,
                    log_entries: pending.target,
                    time_ms: (now - pending.healed_ms) as f64,
                    bytes: net.links[link].bytes - pending.bytes_before,
                });
            } else {
                still.push(pending);
            }
        }
        self.catching_up = still;
    }

    /// Looks again at `due` after [`HANDOVER_POLL_MS`], unless a wait begun at
    /// `started_ms` is past [`HANDOVER_MS_MAX`]: then the run fails with `what`.
    fn wait_again(&mut self, started_ms: u64, due: Due, what: String) -> Result<(), SimError> {
        if self.now() - started_ms > HANDOVER_MS_MAX {
            return Err(SimError::Run { reason: format!("{what} after {HANDOVER_MS_MAX} ms") });
        }
        self.at(self.now() + HANDOVER_POLL_MS, due);
        Ok(())
    }

    /// A move's first half (see [`SimDistrict::accept`]); the workload's steps of the
    /// old street for the community go to the new one from now on.
    fn begin_move(&mut self, index: usize, community: usize, to_id: &str) -> Result<(), SimError> {
        let to = self.district.node(to_id)?;
        let link = self.district.uplink(community)?;
        let from = self.district.net.links[link].parent;
        self.district.accept(to, community)?;
        for (i, writers) in self.writers.iter_mut().enumerate() {
            if writers.0 == community {
                writers.1 = to;
                self.loads[i].set_street(to_id);
            }
        }
        // Probes leave it alone from now on: their street for it would be the old one.
        self.faulted.insert(community);
        let end = self.district.net.nodes[from].log_end()?;
        self.moving.insert(index, Moving { community, from, to, end, started_ms: self.now() });
        self.handover(index)
    }

    /// The second half once the old street's log is applied at the district and at
    /// the community (no write it acknowledged is left behind); until then it looks
    /// again, for [`HANDOVER_MS_MAX`] at most.
    fn handover(&mut self, index: usize) -> Result<(), SimError> {
        let Some(moving) = self.moving.get(&index) else { return Ok(()) };
        let net = &self.district.net;
        let (community, from, to, end) = (moving.community, moving.from, moving.to, moving.end);
        let applied_up = net.uplink(from).map_or(0, |l| net.links[l].applied_through[Dir::Up as usize]);
        let applied_down = net.uplink(community).map_or(0, |l| net.links[l].applied_through[Dir::Down as usize]);
        if applied_up < end || applied_down < end {
            let what = format!(
                "moving {}: {}'s log through {end} is applied at the district through {applied_up} and at the \
                 community through {applied_down}",
                net.nodes[community].id, net.nodes[from].id
            );
            return self.wait_again(moving.started_ms, Due::Handover(index), what);
        }
        self.moving.remove(&index);
        self.district.release(from, to, community)?;
        let link = self.district.uplink(community)?;
        self.catching_up.push(Pending {
            node: community,
            kind: FaultKind::Move,
            down_ms: 0,
            target: self.district.net.nodes[community].log_end()?,
            healed_ms: self.now(),
            bytes_before: self.district.net.links[link].bytes,
            link,
        });
        Ok(())
    }

    /// A split's first step (see [`SimDistrict::begin_split`]); the community stops
    /// writing, and the split runs once its street holds all of its log.
    fn begin_split(&mut self, index: usize, community: usize) -> Result<(), SimError> {
        let link = self.district.uplink(community)?;
        let street = self.district.net.links[link].parent;
        let id = self.district.net.nodes[community].id.to_string();
        let new = Topology::split_into(&id).iter().map(|n| self.district.node(n)).collect::<Result<Vec<_>, _>>()?;
        self.district.begin_split(street, &new)?;
        for (i, load) in self.loads.iter().enumerate() {
            if load.id == id {
                self.retired.insert(i);
            }
        }
        self.faulted.insert(community);
        let end = self.district.net.nodes[community].log_end()?;
        self.splitting.insert(index, Splitting { community, street, end, started_ms: self.now() });
        self.split_when_caught_up(index)
    }

    fn split_when_caught_up(&mut self, index: usize) -> Result<(), SimError> {
        let Some(splitting) = self.splitting.get(&index) else { return Ok(()) };
        let (community, street, end) = (splitting.community, splitting.street, splitting.end);
        let net = &self.district.net;
        let applied = net.uplink(community).map_or(0, |l| net.links[l].applied_through[Dir::Up as usize]);
        if applied < end {
            let what = format!(
                "splitting {}: its log through {end} is applied at {} through {applied}",
                net.nodes[community].id, net.nodes[street].id
            );
            return self.wait_again(splitting.started_ms, Due::Splitting(index), what);
        }
        let splitting = self.splitting.remove(&index).ok_or_else(|| SimError::Run { reason: "split lost".into() })?;
        let id = self.district.net.nodes[community].id.to_string();
        let profile = self.config.topology.community(&id).ok_or_else(|| SimError::NoNode { node: id.clone() })?;
        let rule = Topology::split_rule(profile);
        let now_virtual = self.virtual_now() as u64;
        let report = self.district.net.nodes[street]
            .split(rule, now_virtual)?
            .ok_or_else(|| SimError::Run { reason: format!("{id}: its street is down at the split") })?;
        self.district.net.pump_node(street)?;
        self.splits.push(SplitDone {
            community: id,
            street: self.district.net.nodes[street].id.to_string(),
            moved: report.moved,
            left: report.left,
            time_ms: (self.now() - splitting.started_ms) as f64,
        });
        Ok(())
    }

    fn fault(&mut self, index: usize, end: bool) -> Result<(), SimError> {
        let fault = self.config.faults[index].clone();
        let node = self.district.node(&fault.node)?;
        tracing::info!(kind = ?fault.kind, node = %fault.node, end, "fault");
        if fault.kind == FaultKind::Split {
            return self.begin_split(index, node);
        }
        if fault.kind == FaultKind::Move {
            let to = fault.to.clone().unwrap_or_default();
            return self.begin_move(index, node, &to);
        }
        // The district has no uplink; expand() refuses link faults on it.
        let uplink = self.district.net.uplink(node);
        let link = |uplink: Option<usize>| {
            uplink.ok_or_else(|| SimError::NoNode { node: format!("an uplink of {}", fault.node) })
        };
        if !end {
            self.faulted.insert(node);
            match fault.kind {
                FaultKind::Cut => drop(self.district.cut(node)?),
                FaultKind::Delay => self.district.net.links[link(uplink)?].delay_ms = fault.delay_ms,
                FaultKind::Loss => self.district.net.links[link(uplink)?].loss = fault.loss_pct / 100.0,
                FaultKind::Skew => self.district.net.nodes[node].skew_ms = fault.skew_ms,
                // The in-memory store holds exactly what the node made durable: a
                // SIGKILL leaves what a graceful stop leaves.
                FaultKind::Crash | FaultKind::Kill => self.district.crash(node),
                FaultKind::Wipe => self.district.wipe(node),
                FaultKind::Move | FaultKind::Split => {}
            }
            return Ok(());
        }
        match fault.kind {
            FaultKind::Cut => drop(self.district.heal(node)?),
            FaultKind::Delay => self.district.net.links[link(uplink)?].delay_ms = 0,
            FaultKind::Loss => self.district.net.links[link(uplink)?].loss = 0.0,
            FaultKind::Skew => self.district.net.nodes[node].skew_ms = 0,
            FaultKind::Crash | FaultKind::Kill | FaultKind::Wipe => self.district.restart(node)?,
            FaultKind::Move | FaultKind::Split => {}
        }
        self.faulted.remove(&node);
        if parent_of(&self.config.topology, &fault.node).is_some() {
            let link = self.district.uplink(node)?;
            self.catching_up.push(Pending {
                node,
                kind: fault.kind,
                down_ms: fault.end_ms - fault.start_ms,
                target: self.district.net.nodes[node].log_end()?,
                healed_ms: self.now(),
                bytes_before: self.district.net.links[link].bytes,
                link,
            });
        }
        Ok(())
    }

    fn sample(&mut self) {
        let net = &self.district.net;
        let street_lag = self
            .config
            .topology
            .streets
            .iter()
            .map(|s| {
                let Ok(street) = self.district.node(&s.id) else { return 0 };
                let Some(link) = net.uplink(street) else { return 0 };
                let end = net.nodes[street].log_end().unwrap_or(0);
                end.saturating_sub(net.links[link].applied_through[Dir::Up as usize])
            })
            .collect();
        let sample = Sample {
            at_ms: self.now(),
            acked: self.tally.acked.load(Ordering::Relaxed),
            bytes: net.bytes(),
            // Not measured: it would make two runs of one seed differ.
            rss_bytes: 0,
            street_lag,
        };
        if self.config.progress {
            report::progress(&sample, self.config.duration, self.samples.last());
        }
        self.samples.push(sample);
    }

    /// Every link up, idle, and applied through its peer's whole log, both ways.
    fn quiet(&self) -> Result<bool, SimError> {
        let net = &self.district.net;
        for link in &net.links {
            if !link.idle() {
                return Ok(false);
            }
            let up_end = net.nodes[link.child].log_end()?;
            let down_end = net.nodes[link.parent].log_end()?;
            if link.applied_through[Dir::Up as usize] < up_end || link.applied_through[Dir::Down as usize] < down_end {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Runs the network alone until it is quiet, or `config.settle` passes.
    fn settle(&mut self) -> Result<bool, SimError> {
        let deadline = self.now() + self.config.settle.as_millis() as u64;
        while self.now() < deadline {
            if self.quiet()? {
                return Ok(true);
            }
            let next = (self.now() + SETTLE_POLL_MS).min(deadline);
            self.run_net_until(next)?;
        }
        self.quiet()
    }

    /// An idle link cut and healed: bytes and time until the session is back.
    fn idle_reconnect(&mut self) -> Result<Option<Idle>, SimError> {
        let Some(community) = self.writers.first().map(|w| w.0) else { return Ok(None) };
        let link = self.district.cut(community)?;
        self.run_net_until(self.now() + 200)?;
        let bytes_before = self.district.net.links[link].bytes;
        let sessions = self.district.net.links[link].sessions;
        let healed = self.now();
        self.district.heal(community)?;
        while self.district.net.links[link].sessions == sessions {
            match self.district.net.step()? {
                Stepped::Nothing => return Ok(None),
                Stepped::Delivered(d) => self.on_delivered(d)?,
                Stepped::Internal => {}
            }
        }
        let time_ms = (self.now() - healed) as f64;
        // Let the session's first exchanges finish before counting.
        self.run_net_until(self.now() + 200)?;
        Ok(Some(Idle {
            node: self.district.net.nodes[community].id.to_string(),
            time_ms,
            bytes: self.district.net.links[link].bytes - bytes_before,
        }))
    }
}
