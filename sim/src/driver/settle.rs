//! The end of a run and what is measured along it, for both modes: the samples,
//! settling (every link applied through its peer's whole log, both ways), and the
//! idle reconnect.

use super::{District, Driver, Due, Job, Phase};
use crate::error::SimError;
use crate::report::{self, Idle, Sample};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the settle phase looks whether the links are quiet; it must see them
/// quiet twice in a row.
const SETTLE_POLL: Duration = Duration::from_millis(250);
/// The idle reconnect: how long the link stays cut, how often it looks whether the
/// session is back, how long it waits for it, and how long the session's first
/// exchanges may take before its bytes are counted.
const IDLE_CUT: Duration = Duration::from_millis(200);
const IDLE_POLL: Duration = Duration::from_millis(2);
const IDLE_MAX: Duration = Duration::from_secs(30);
const IDLE_SETTLE: Duration = Duration::from_millis(200);

pub(super) struct SampleJob {
    at: Duration,
    acked: u64,
    /// Each street and its parent (the district).
    streets: Rc<[(String, String)]>,
}

/// Bytes, writes, memory, and each street's lag at its district.
pub(super) async fn sample<D: District>(district: &D, job: SampleJob) -> Result<Sample, SimError> {
    let mut street_lag = Vec::with_capacity(job.streets.len());
    let mut street_lag_ms = Vec::with_capacity(job.streets.len());
    for (street, parent) in job.streets.iter() {
        let lag = district.lag(street, parent).await?;
        street_lag.push(lag.entries);
        street_lag_ms.push(lag.ms);
    }
    let log = district.log_entries_max();
    Ok(Sample {
        at_ms: job.at.as_millis() as u64,
        acked: job.acked,
        bytes: district.bytes_on_links(),
        rss_bytes: district.rss_bytes(),
        log_entries_max: log.0,
        log_written_max: log.1,
        street_lag,
        street_lag_ms,
    })
}

/// Whether every link of `edges` (child, parent) has applied its peer's whole log,
/// both ways, with nothing in flight.
pub(super) async fn quiet<D: District>(district: &D, edges: &[(String, String)]) -> Result<bool, SimError> {
    for (child, parent) in edges {
        let Some(link) = district.link(child, parent).await? else { return Ok(false) };
        if !link.idle || link.applied_up < link.child_end || link.applied_down < link.parent_end {
            return Ok(false);
        }
    }
    Ok(true)
}

impl<D: District> Driver<'_, D> {
    pub(super) fn sample_job(&self) -> SampleJob {
        let topology = &self.config.topology;
        SampleJob {
            at: self.now(),
            acked: self.tally.acked.load(Ordering::Relaxed),
            streets: topology
                .streets
                .iter()
                .map(|s| (s.id.clone(), topology.parent_of_street(&s.id).to_string()))
                .collect(),
        }
    }

    pub(super) fn prepare_sample(&mut self, at: Duration) -> Option<Job> {
        if matches!(self.phase, Phase::Done { .. }) {
            return None;
        }
        self.at(at + self.pace.sample_every, Due::Sample);
        Some(Job::Sample(self.sample_job()))
    }

    pub(super) fn apply_sample(&mut self, sample: Sample) {
        if self.config.progress {
            report::progress(&sample, self.config.duration, self.samples.last());
        }
        self.samples.push(sample);
    }

    /// The first settle poll ends the workload's span; each looks at every link of
    /// the tree as the run's moves and splits left it.
    pub(super) fn prepare_settle(&mut self) -> Job {
        if matches!(self.phase, Phase::Workload) {
            let now = self.now();
            self.workload_end = now;
            self.phase = Phase::Settling { deadline: now + self.config.settle, quiet_once: false };
        }
        let tree = self.final_tree;
        let edges: Rc<[(String, String)]> = tree.edges().into();
        Job::Quiet(edges)
    }

    pub(super) fn apply_quiet(&mut self, quiet: bool) {
        let now = self.now();
        let Phase::Settling { deadline, quiet_once } = self.phase else { return };
        if quiet && quiet_once {
            self.phase = Phase::Done { settled: true };
        } else if now >= deadline {
            self.phase = Phase::Done { settled: false };
        } else {
            self.phase = Phase::Settling { deadline, quiet_once: quiet };
            self.at(now + SETTLE_POLL, Due::Settle);
        }
    }

    /// An idle link cut and healed: bytes and time until its parent has the session
    /// back.
    pub(super) async fn idle_reconnect(&self) -> Result<Option<Idle>, SimError> {
        let tree = self.final_tree;
        let Some(community) = tree.communities().next().map(|c| c.id.clone()) else { return Ok(None) };
        let Some(street) = tree.street_of(&community).map(str::to_string) else { return Ok(None) };
        let district = self.district.as_ref();
        let before = district.link(&community, &street).await?.map_or(0, |l| l.sessions);
        district.cut(&community).await?;
        district.wait_until(district.now() + IDLE_CUT).await?;
        let bytes_before = district.link_bytes(&community)?;
        let healed = district.now();
        district.heal(&community).await?;
        while district.now() < healed + IDLE_MAX {
            if let Some(link) = district.link(&community, &street).await?
                && link.connected
                && link.sessions > before
            {
                let time = district.now() - healed;
                // Let the session's first exchanges finish before counting.
                district.wait_until(district.now() + IDLE_SETTLE).await?;
                return Ok(Some(Idle {
                    node: community.clone(),
                    time_ms: time.as_secs_f64() * 1e3,
                    bytes: district.link_bytes(&community)? - bytes_before,
                }));
            }
            district.wait_until(district.now() + IDLE_POLL).await?;
        }
        Ok(None)
    }
}
