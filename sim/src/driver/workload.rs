//! The workload's step (read, decide, write, ledger, tally, retries) and the
//! propagation probes, for both modes.

use super::{District, Driver, Due, Job, Wrote, count};
use crate::error::SimError;
use crate::faults::FaultKind;
use crate::rng::Rng;
use crate::topology::Topology;
use crate::workload::community::WRITES_PER_ARRIVAL;
use crate::workload::{Action, CommunityLoad, Decision, WAITS_MAX};
use linli_core::ids::RecordKey;
use linli_core::replica::Written;
use linli_core::write::Write;
use serde_json::json;
use std::time::Duration;

/// Ms of the run's clock a step waits before it looks again at a record still
/// replicating, or at a node that is down.
const RETRY_MS: f64 = 500.0;
/// Probes start once every link had time to come up.
pub(super) const PROBES_FROM: Duration = Duration::from_millis(500);
/// A propagation probe gives up after this long (a fault cut its path meanwhile).
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a probe looks whether the district holds it.
const PROBE_POLL: Duration = Duration::from_millis(1);

pub(super) struct StepJob {
    i: usize,
    load: CommunityLoad,
    action: Action,
    now_virtual: i64,
    retry_virtual_ms: i64,
}

enum Outcome {
    Skipped,
    Waited { abandoned: bool },
    Acked(Box<(Write, Written)>),
    Down,
    Refused { abandoned: bool },
}

pub(super) struct Stepped {
    i: usize,
    load: CommunityLoad,
    outcome: Outcome,
}

/// One step of a community's schedule: its writer reads the record it moves (if
/// any), decides, and writes; the step is put back when the writer does not see the
/// state yet, is down, or refused the write.
pub(super) async fn step<D: District>(district: &D, job: StepJob) -> Result<Stepped, SimError> {
    let StepJob { i, mut load, action, now_virtual, retry_virtual_ms } = job;
    let record = match action.step.reads() {
        Some(key) => district.get(&action.writer, key).await?,
        None => None,
    };
    let outcome = match load.decide(&action, now_virtual, record.as_ref()) {
        Decision::Skip => Outcome::Skipped,
        Decision::Wait => {
            let abandoned = action.waits >= WAITS_MAX;
            if !abandoned {
                load.retry(action, retry_virtual_ms);
            }
            Outcome::Waited { abandoned }
        }
        Decision::Write(write) => match district.write(&action.writer, write.clone()).await? {
            Wrote::Acked(written) => {
                load.after(&action, &write, &written.key, now_virtual);
                Outcome::Acked(Box::new((write, written)))
            }
            Wrote::Down => {
                load.retry(action, retry_virtual_ms);
                Outcome::Down
            }
            // Refused: the record moved at the writer between the read and the write
            // (a peer's change arrived), or the writer no longer holds it; the step
            // looks again.
            Wrote::Refused(error) => {
                tracing::debug!(node = %action.writer, step = action.step.name(), %error, "write refused");
                let again = action.step.reads().is_some() && action.waits < WAITS_MAX;
                if again {
                    load.retry(action, retry_virtual_ms);
                }
                Outcome::Refused { abandoned: !again }
            }
        },
    };
    Ok(Stepped { i, load, outcome })
}

/// A probe written, waiting to be read at the district.
pub(super) struct Probe {
    key: RecordKey,
    community: String,
    street: String,
    sent: Duration,
    /// The log entry of the probe at its community, and when the community's
    /// watermark at the district first covered it.
    seq: Option<u64>,
    durable_after: Option<Duration>,
    arrived_after: Option<Duration>,
}

pub(super) struct ProbeWrite {
    community: String,
    street: String,
    write: Write,
}

pub(super) struct ProbeWritten {
    community: String,
    street: String,
    write: Write,
    wrote: Option<Written>,
    sent: Duration,
}

pub(super) struct ProbePoll {
    district: String,
    /// The probe to read at the district, until a read found it.
    key: Option<RecordKey>,
    community: String,
    /// The probe's log entry, until the community's watermark covered it.
    seq: Option<u64>,
}

pub(super) struct ProbePolled {
    arrived: bool,
    /// The community's watermark at the district covers the probe.
    durable: bool,
    at: Duration,
}

pub(super) async fn probe_write<D: District>(district: &D, job: ProbeWrite) -> Result<ProbeWritten, SimError> {
    let sent = district.now();
    let wrote = match district.write(&job.community, job.write.clone()).await? {
        Wrote::Acked(written) => Some(written),
        Wrote::Down => None,
        Wrote::Refused(error) => return Err(error),
    };
    Ok(ProbeWritten { community: job.community, street: job.street, write: job.write, wrote, sent })
}

pub(super) async fn probe_poll<D: District>(district: &D, job: ProbePoll) -> Result<ProbePolled, SimError> {
    // What an earlier poll saw is not asked again (`None`).
    let arrived = match &job.key {
        Some(key) => district.get(&job.district, key).await?.is_some(),
        None => false,
    };
    let durable = match job.seq {
        Some(seq) => district.durable_at_top(&job.community).await?.is_some_and(|durable| durable >= seq),
        None => false,
    };
    Ok(ProbePolled { arrived, durable, at: district.now() })
}

impl<D: District> Driver<'_, D> {
    /// The top's own record (the district's, or the city's), broadcast to every
    /// community: its service centre.
    pub(super) async fn district_centre(&mut self) -> Result<(), SimError> {
        let district = &self.config.topology.top;
        let centre = Write::create(
            district,
            "sites",
            &[("kind", json!("district_centre")), ("name", json!("区党群服务中心")), ("open_24h", json!(true))],
        );
        if let Wrote::Acked(written) = self.district.write(district, centre.clone()).await? {
            self.ledger.acknowledge(&centre, &written)?;
            count(&self.tally.acked);
        }
        Ok(())
    }

    /// Every community's schedule, and those of the communities a split makes (they
    /// start writing when it runs).
    pub(super) fn start_loads(&mut self, root: &Rng) -> Result<(), SimError> {
        let config = self.config;
        let arrivals_per_ms = config.rate / WRITES_PER_ARRIVAL / 1e3 / config.speed;
        for street in &config.topology.streets {
            for community in &street.communities {
                let rng = root.fork(&community.id);
                let load = CommunityLoad::new(community.clone(), &street.id, rng, self.clock.start_ms, arrivals_per_ms);
                self.loads.push(Some(load));
            }
        }
        for split in config.faults.iter().filter(|f| f.kind == FaultKind::Split) {
            for id in Topology::split_into(&split.node) {
                let street = self.final_tree.street_of(&id).unwrap_or_default().to_string();
                let profile =
                    self.final_tree.community(&id).cloned().ok_or_else(|| SimError::NoNode { node: id.clone() })?;
                let from_ms = self.clock.virtual_ms(split.start_ms as f64);
                self.loads.push(Some(CommunityLoad::new(profile, &street, root.fork(&id), from_ms, arrivals_per_ms)));
            }
        }
        self.loads_live = self.loads.len();
        for i in 0..self.loads.len() {
            self.schedule_load(i);
        }
        Ok(())
    }

    /// Queues the next step of load `i`, or ends it past the workload's span.
    fn schedule_load(&mut self, i: usize) {
        let Some(load) = &self.loads[i] else { return };
        let due = load.next_due_ms();
        if due >= self.end_virtual {
            self.end_load(i);
            return;
        }
        let at = Duration::from_secs_f64(self.clock.wall_ms(due).max(0.0) / 1e3);
        self.at(at, Due::Load(i));
    }

    fn end_load(&mut self, i: usize) {
        self.loads[i] = None;
        self.loads_live -= 1;
    }

    pub(super) fn prepare_step(&mut self, i: usize) -> Result<Option<Job>, SimError> {
        let Some(mut load) = self.loads[i].take() else { return Ok(None) };
        if self.roster.retired.contains(&load.id) {
            self.loads_live -= 1;
            return Ok(None);
        }
        if let Some(street) = self.roster.streets.get(&load.id).filter(|s| **s != load.street) {
            load.set_street(street);
        }
        let action = load.pop();
        let now_virtual = self.virtual_now();
        let retry_virtual_ms = (RETRY_MS * self.clock.speed) as i64;
        Ok(Some(Job::Step(Box::new(StepJob { i, load, action, now_virtual, retry_virtual_ms }))))
    }

    pub(super) fn apply_step(&mut self, stepped: Stepped) -> Result<(), SimError> {
        let Stepped { i, load, outcome } = stepped;
        let tally = &self.tally;
        match outcome {
            Outcome::Skipped => {}
            Outcome::Waited { abandoned } => {
                count(&tally.waits);
                if abandoned {
                    count(&tally.abandoned);
                }
            }
            Outcome::Acked(acked) => {
                let (write, written) = *acked;
                self.ledger.acknowledge(&write, &written)?;
                count(&tally.acked);
            }
            Outcome::Down => count(&tally.down),
            Outcome::Refused { abandoned } => {
                count(&tally.refused);
                if abandoned {
                    count(&tally.abandoned);
                }
            }
        }
        self.loads[i] = Some(load);
        self.schedule_load(i);
        Ok(())
    }

    /// Writes a request at a community whose path is not under a fault; it is then
    /// polled at the district until it arrives: the propagation latency.
    pub(super) fn prepare_probe(&mut self) -> Option<Job> {
        let now = self.now();
        let over = !matches!(self.phase, super::Phase::Workload) || now >= self.end;
        if over || self.latencies.len() >= self.pace.probes_max || self.probe_paths.is_empty() {
            return None;
        }
        let (street, community) = self.probe_rng.pick(&self.probe_paths).clone();
        let topology = &self.config.topology;
        let path = [community.as_str(), street.as_str(), topology.parent_of_street(&street), topology.top.as_str()];
        if path.iter().any(|n| self.faulted.contains(*n)) {
            self.at(now + self.pace.probe_skip, Due::Probe);
            return None;
        }
        let write = Write::create(
            &community,
            "requests",
            &[
                ("category", json!("other")),
                ("channel", json!("qr_code")),
                ("grid", json!("第1网格")),
                ("summary", json!(format!("探针 #{}", self.latencies.len()))),
                ("reported_at", json!(self.virtual_now())),
            ],
        );
        Some(Job::ProbeWrite(ProbeWrite { community, street, write }))
    }

    pub(super) fn apply_probe_written(&mut self, written: ProbeWritten) -> Result<(), SimError> {
        let ProbeWritten { community, street, write, wrote, sent } = written;
        let Some(wrote) = wrote else {
            self.at(self.now() + self.pace.probe_skip, Due::Probe);
            return Ok(());
        };
        self.ledger.acknowledge(&write, &wrote)?;
        let seq = wrote.seq;
        self.probe =
            Some(Probe { key: wrote.key, community, street, sent, seq, durable_after: None, arrived_after: None });
        self.at(self.now(), Due::ProbePoll);
        Ok(())
    }

    pub(super) fn prepare_probe_poll(&mut self) -> Option<Job> {
        let probe = self.probe.as_ref()?;
        if !matches!(self.phase, super::Phase::Workload) {
            self.probe = None;
            return None;
        }
        let district = self.config.topology.top.clone();
        let job = ProbePoll {
            district,
            key: probe.arrived_after.is_none().then(|| probe.key.clone()),
            community: probe.community.clone(),
            seq: probe.seq.filter(|_| probe.durable_after.is_none()),
        };
        Some(Job::ProbePoll(job))
    }

    /// A probe is timed twice: until a read at the district finds it, and until its
    /// community's watermark says the district holds it durably.
    pub(super) fn apply_probe_polled(&mut self, polled: ProbePolled) {
        let Some(probe) = &mut self.probe else { return };
        let waited = polled.at.saturating_sub(probe.sent);
        if polled.arrived && probe.arrived_after.is_none() {
            probe.arrived_after = Some(waited);
        }
        if polled.durable && probe.durable_after.is_none() {
            probe.durable_after = Some(waited);
        }
        let done = probe.arrived_after.is_some() && (probe.durable_after.is_some() || probe.seq.is_none());
        if !done && waited <= PROBE_TIMEOUT {
            self.at(polled.at + PROBE_POLL, Due::ProbePoll);
            return;
        }
        if let Some(arrived) = probe.arrived_after {
            self.latencies.push((probe.street.clone(), arrived));
        }
        if let Some(durable) = probe.durable_after {
            self.durable_latencies.push(durable);
        }
        let next = (probe.sent + self.pace.probe_gap).max(polled.at + self.pace.probe_pause);
        self.probe = None;
        self.at(next, Due::Probe);
    }
}
