//! The run driver: one run of a district for both modes. The workload step, the
//! probes, the faults with the moves' and splits' hand-overs, settling, the samples,
//! the idle reconnect and the report's inputs are written here once; what a mode does
//! with them sits behind [`District`].
//!
//! The driver is an event loop over the mode's clock: a queue of due actions (each
//! community's next step, the next probe or probe poll, each fault's start and end, a
//! hand-over's next look, a catch-up's next look, the next sample, the next settle
//! poll). An action is prepared from the driver's state, performed against the
//! district (the part that waits on the network), and its result applied to the state,
//! which queues what follows. In real mode the performed parts run side by side as
//! local tasks, so one slow write holds no other community back; in sim mode each runs
//! to its end at once and the loop stays deterministic. Every wait is an entry in the
//! queue: nothing sleeps inside an action.

pub mod district;
mod faults;
mod settle;
mod workload;

pub use district::{District, Lag, LinkState, Pace, Wrote};

use crate::checks::Check;
use crate::error::SimError;
use crate::ledger::Ledger;
use crate::report::{self, CatchUp, Report, Sample, SplitDone};
use crate::rng::Rng;
use crate::run::{RunConfig, Tally, split_ledger};
use crate::topology::Topology;
use crate::workload::{Clock, CommunityLoad};
use linli_core::schema::Registries;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy)]
enum Due {
    Load(usize),
    Probe,
    ProbePoll,
    Fault {
        index: usize,
        end: bool,
    },
    /// A move's next look at its old street's hand-over, by fault index.
    Handover(usize),
    /// A move's last step.
    Release(usize),
    /// A split's next look at its street's catching up, by fault index.
    SplitPoll(usize),
    SplitRun(usize),
    CatchUp(usize),
    Sample,
    Settle,
}

impl Due {
    /// Actions that change the tree run one at a time, in their order (a fault's end
    /// after its start, a move's steps after the faults before it).
    fn changes_the_tree(self) -> bool {
        matches!(self, Due::Fault { .. } | Due::Release(_) | Due::SplitRun(_))
    }
}

/// The part of an action that waits on the network.
enum Job {
    Step(Box<workload::StepJob>),
    ProbeWrite(workload::ProbeWrite),
    ProbePoll(workload::ProbePoll),
    Fault(faults::FaultJob),
    Poll(faults::PollJob),
    Sample(settle::SampleJob),
    Quiet(Rc<[(String, String)]>),
}

/// What a [`Job`] found.
enum Done {
    Stepped(workload::Stepped),
    ProbeWritten(workload::ProbeWritten),
    ProbePolled(workload::ProbePolled),
    Fault(faults::FaultDone),
    Polled(faults::Polled),
    Sampled(Sample),
    Quiet(bool),
}

async fn perform<D: District>(district: Rc<D>, job: Job) -> Result<Done, SimError> {
    let d = district.as_ref();
    Ok(match job {
        Job::Step(job) => Done::Stepped(workload::step(d, *job).await?),
        Job::ProbeWrite(job) => Done::ProbeWritten(workload::probe_write(d, job).await?),
        Job::ProbePoll(job) => Done::ProbePolled(workload::probe_poll(d, job).await?),
        Job::Fault(job) => Done::Fault(faults::perform(d, job).await?),
        Job::Poll(job) => Done::Polled(faults::poll(d, job).await?),
        Job::Sample(job) => Done::Sampled(settle::sample(d, job).await?),
        Job::Quiet(edges) => Done::Quiet(settle::quiet(d, &edges).await?),
    })
}

enum Phase {
    Workload,
    Settling { deadline: Duration, quiet_once: bool },
    Done { settled: bool },
}

/// What the run knows of who writes for whom, as moves and splits change it.
#[derive(Default)]
struct Roster {
    /// Each community's street now.
    streets: BTreeMap<String, String>,
    /// Communities split: they write no more.
    retired: BTreeSet<String>,
}

struct Driver<'a, D: District> {
    district: Rc<D>,
    config: &'a RunConfig,
    final_tree: &'a Topology,
    clock: Clock,
    pace: Pace,
    /// The workload's span on the mode's clock, and its end in the district's calendar.
    end: Duration,
    end_virtual: i64,
    queue: BTreeMap<(Duration, u64), Due>,
    next_seq: u64,
    phase: Phase,
    settle_queued: bool,
    workload_end: Duration,

    ledger: Ledger,
    tally: Tally,
    roster: Roster,
    /// Nodes under a fault (or moved, or split): probes leave their paths alone.
    faulted: BTreeSet<String>,

    /// `None` while its step is performed, or once it is over.
    loads: Vec<Option<CommunityLoad>>,
    loads_live: usize,

    probe_rng: Rng,
    /// (street, community) of the topology at the start: where probes are written.
    probe_paths: Vec<(String, String)>,
    probe: Option<workload::Probe>,
    latencies: Vec<(String, Duration)>,
    /// Probes until their community's watermark at the district covered them.
    durable_latencies: Vec<Duration>,

    /// Fault events, moves and splits not finished yet.
    faults_open: usize,
    tree_busy: bool,
    tree_backlog: VecDeque<Due>,
    moving: BTreeMap<usize, faults::Moving>,
    splitting: BTreeMap<usize, faults::Splitting>,
    splits: Vec<SplitDone>,
    catching_up: BTreeMap<usize, faults::Pending>,
    next_catch_up: usize,
    catch_ups: Vec<CatchUp>,

    samples: Vec<Sample>,
}

/// Runs `config`'s workload and faults against `district`, lets it settle, measures,
/// checks and reports. `final_tree` is the tree once the run's moves and splits are
/// made; `boot_ms` what bringing the district up took.
pub async fn run<D: District>(
    district: Rc<D>,
    config: &RunConfig,
    final_tree: &Topology,
    registries: Registries,
    boot_ms: u64,
) -> Result<Report, SimError> {
    let clock = Clock { start_ms: config.start_ms, speed: config.speed };
    let root = Rng::new(config.seed);
    let end = config.duration;
    let mut driver = Driver {
        pace: district.pace(end),
        district,
        config,
        final_tree,
        clock,
        end,
        end_virtual: clock.virtual_ms(end.as_secs_f64() * 1e3),
        queue: BTreeMap::new(),
        next_seq: 0,
        phase: Phase::Workload,
        settle_queued: false,
        workload_end: end,
        ledger: Ledger::new(registries),
        tally: Tally::default(),
        roster: Roster {
            streets: config
                .topology
                .streets
                .iter()
                .flat_map(|s| s.communities.iter().map(|c| (c.id.clone(), s.id.clone())))
                .collect(),
            retired: BTreeSet::new(),
        },
        faulted: BTreeSet::new(),
        loads: Vec::new(),
        loads_live: 0,
        probe_rng: root.fork("probes"),
        probe_paths: config
            .topology
            .streets
            .iter()
            .flat_map(|s| s.communities.iter().map(|c| (s.id.clone(), c.id.clone())))
            .collect(),
        probe: None,
        latencies: Vec::new(),
        durable_latencies: Vec::new(),
        faults_open: 0,
        tree_busy: false,
        tree_backlog: VecDeque::new(),
        moving: BTreeMap::new(),
        splitting: BTreeMap::new(),
        splits: Vec::new(),
        catching_up: BTreeMap::new(),
        next_catch_up: 0,
        catch_ups: Vec::new(),
        samples: Vec::new(),
    };
    driver.district_centre().await?;
    driver.start_loads(&root)?;
    driver.schedule_faults();
    driver.at(workload::PROBES_FROM, Due::Probe);
    driver.at(Duration::ZERO, Due::Sample);
    driver.event_loop().await?;
    driver.finish(boot_ms).await
}

impl<D: District> Driver<'_, D> {
    fn now(&self) -> Duration {
        self.district.now()
    }

    fn at(&mut self, at: Duration, due: Due) {
        self.next_seq += 1;
        self.queue.insert((at, self.next_seq), due);
    }

    /// The district's calendar now.
    fn virtual_now(&self) -> i64 {
        self.clock.virtual_ms(self.now().as_secs_f64() * 1e3)
    }

    /// Every due action in time order, each performed against the district, until
    /// the district has settled (or may settle no longer).
    async fn event_loop(&mut self) -> Result<(), SimError> {
        let mut jobs: JoinSet<Result<Done, SimError>> = JoinSet::new();
        while !matches!(self.phase, Phase::Done { .. }) {
            let next = self.queue.first_key_value().map(|((at, _), _)| *at);
            if D::CONCURRENT && !jobs.is_empty() {
                let district = self.district.clone();
                let wait = async move {
                    match next {
                        Some(at) => district.wait_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                let joined = tokio::select! {
                    biased;
                    Some(joined) = jobs.join_next() => Some(joined),
                    waited = wait => { waited?; None }
                };
                if let Some(joined) = joined {
                    let done = joined.map_err(|e| SimError::Run { reason: format!("an action panicked: {e}") })??;
                    self.apply(done)?;
                    continue;
                }
            } else {
                let Some(at) = next else {
                    return Err(SimError::Run { reason: "nothing is due and the run is not over".into() });
                };
                self.district.wait_until(at).await?;
            }
            let Some(((at, _), due)) = self.queue.pop_first() else { continue };
            if due.changes_the_tree() && self.tree_busy {
                self.tree_backlog.push_back(due);
                continue;
            }
            if let Some(job) = self.prepare(at, due)? {
                if due.changes_the_tree() {
                    self.tree_busy = true;
                }
                if D::CONCURRENT {
                    jobs.spawn_local(perform(self.district.clone(), job));
                } else {
                    let done = perform(self.district.clone(), job).await?;
                    self.apply(done)?;
                }
            }
        }
        // What is still in flight (a catch-up's look, a sample) ends before the
        // district is measured further.
        while D::CONCURRENT
            && let Some(joined) = jobs.join_next().await
        {
            let done = joined.map_err(|e| SimError::Run { reason: format!("an action panicked: {e}") })??;
            self.apply(done)?;
        }
        Ok(())
    }

    fn prepare(&mut self, at: Duration, due: Due) -> Result<Option<Job>, SimError> {
        match due {
            Due::Load(i) => self.prepare_step(i),
            Due::Probe => Ok(self.prepare_probe()),
            Due::ProbePoll => Ok(self.prepare_probe_poll()),
            Due::Fault { index, end } => Ok(Some(self.prepare_fault(index, end))),
            Due::Handover(index) => Ok(self.prepare_handover(index)),
            Due::Release(index) => Ok(self.prepare_release(index)),
            Due::SplitPoll(index) => Ok(self.prepare_split_poll(index)),
            Due::SplitRun(index) => self.prepare_split_run(index),
            Due::CatchUp(id) => Ok(self.prepare_catch_up(id)),
            Due::Sample => Ok(self.prepare_sample(at)),
            Due::Settle => Ok(Some(self.prepare_settle())),
        }
    }

    fn apply(&mut self, done: Done) -> Result<(), SimError> {
        match done {
            Done::Stepped(stepped) => self.apply_step(stepped)?,
            Done::ProbeWritten(written) => self.apply_probe_written(written)?,
            Done::ProbePolled(polled) => self.apply_probe_polled(polled),
            Done::Fault(done) => {
                self.tree_done();
                self.apply_fault(done)?;
            }
            Done::Polled(polled) => self.apply_polled(polled)?,
            Done::Sampled(sample) => self.apply_sample(sample),
            Done::Quiet(quiet) => self.apply_quiet(quiet),
        }
        self.queue_settle();
        Ok(())
    }

    /// A tree-changing action finished: the next one waiting may start.
    fn tree_done(&mut self) {
        self.tree_busy = false;
        if let Some(due) = self.tree_backlog.pop_front() {
            self.at(self.now(), due);
        }
    }

    /// Once every community's workload and every fault are over, the district
    /// settles, from the end of the workload's span at the earliest.
    fn queue_settle(&mut self) {
        if self.settle_queued || self.loads_live > 0 || self.faults_open > 0 {
            return;
        }
        self.settle_queued = true;
        self.at(self.now().max(self.end), Due::Settle);
    }

    /// After the loop: the last sample, the catch-ups still pending, the idle
    /// reconnect, the checks, the report.
    async fn finish(mut self, boot_ms: u64) -> Result<Report, SimError> {
        let settled = matches!(self.phase, Phase::Done { settled: true });
        let settle_ms = self.now().saturating_sub(self.workload_end).as_millis() as u64;
        let sample = settle::sample(self.district.as_ref(), self.sample_job()).await?;
        self.apply_sample(sample);
        if self.config.progress {
            eprintln!();
        }
        self.last_catch_ups().await?;
        let idle = self.idle_reconnect().await?;

        split_ledger(&mut self.ledger, self.config)?;
        let mut checks = vec![Check::new("settled", settled, format!("quiet after {settle_ms} ms"))];
        checks.extend(self.district.checks(self.final_tree, &self.ledger).await?);
        self.catch_ups.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(report::build(report::Inputs {
            config: self.config,
            boot_ms,
            workload_ms: self.workload_end.as_millis() as u64,
            settle_ms,
            end_virtual_ms: self.end_virtual,
            tally: &self.tally,
            ledger_writes: self.ledger.writes(),
            records: self.ledger.records().len(),
            latencies: std::mem::take(&mut self.latencies),
            durable_latencies: std::mem::take(&mut self.durable_latencies),
            catch_ups: std::mem::take(&mut self.catch_ups),
            splits: std::mem::take(&mut self.splits),
            idle,
            samples: std::mem::take(&mut self.samples),
            bytes_on_links: self.district.bytes_on_links(),
            checks,
        }))
    }
}

fn count(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
