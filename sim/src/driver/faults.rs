//! Faults for both modes: each kind's start and end, a move's hand-over, a split's
//! wait for its street, and the catch-up measured after each fault on a node with a
//! parent.

use super::{District, Driver, Due, Job};
use crate::error::SimError;
use crate::faults::{Fault, FaultKind};
use crate::report::{CatchUp, SplitDone};
use crate::run::parent_of;
use crate::topology::Topology;
use linli_core::replica::{SplitReport, SplitRule};
use std::time::Duration;

/// A move's hand-over (the old street's log applied at the district and at the
/// community) and a split's wait (the community's log applied at its street): how
/// often they look, and how long they may wait before the run fails. A hand-over
/// whose old street is under a fault (its evening outage) waits for it without a
/// bound: the wait counts from when the street is back.
const HANDOVER_POLL: Duration = Duration::from_millis(10);
const HANDOVER_MAX: Duration = Duration::from_secs(60);
/// How often a catch-up looks, and how long before it gives up (the settle phase and
/// the checks still run).
const CATCH_UP_POLL: Duration = Duration::from_millis(5);
const CATCH_UP_MAX: Duration = Duration::from_secs(120);

pub(super) enum FaultJob {
    Start(Fault),
    /// A fault lifted; `parent` is where the node's catch-up is measured.
    End {
        fault: Fault,
        parent: Option<String>,
    },
    Move {
        index: usize,
        community: String,
        from: String,
        to: String,
    },
    Release {
        index: usize,
        community: String,
        from: String,
        to: String,
    },
    SplitBegin {
        index: usize,
        community: String,
        street: String,
        new: Vec<String>,
    },
    SplitRun {
        index: usize,
        street: String,
        rule: SplitRule,
    },
}

/// Where a catch-up starts: the node's log end when its fault was lifted, and its
/// uplink's bytes then.
pub(super) struct Healed {
    target: u64,
    /// Entries of the node's log its parent had not applied when the fault was lifted:
    /// what the catch-up carries.
    behind: u64,
    bytes: u64,
    /// See [`crate::report::CatchUp::changes_zstd_bytes`].
    changes_zstd_bytes: Option<u64>,
    at: Duration,
}

pub(super) enum FaultDone {
    Started,
    Ended { fault: Fault, parent: Option<String>, healed: Option<Healed> },
    Moving { index: usize, end: u64 },
    Released { index: usize, healed: Option<Healed> },
    Splitting { index: usize, end: u64 },
    Split { index: usize, report: SplitReport },
}

pub(super) async fn perform<D: District>(district: &D, job: FaultJob) -> Result<FaultDone, SimError> {
    Ok(match job {
        FaultJob::Start(fault) => {
            let node = fault.node.as_str();
            match fault.kind {
                FaultKind::Cut => district.cut(node).await?,
                FaultKind::Delay => district.set_delay_ms(node, fault.delay_ms).await?,
                FaultKind::Loss => district.set_loss_pct(node, fault.loss_pct).await?,
                FaultKind::Skew => district.set_skew_ms(node, fault.skew_ms).await?,
                FaultKind::Crash => district.crash(node).await?,
                FaultKind::Kill => district.kill(node).await?,
                FaultKind::Wipe => district.wipe(node).await?,
                FaultKind::Restore => district.backup(node).await?,
                FaultKind::Move | FaultKind::Split => {}
            }
            FaultDone::Started
        }
        FaultJob::End { fault, parent } => {
            let node = fault.node.as_str();
            match fault.kind {
                FaultKind::Cut => district.heal(node).await?,
                FaultKind::Delay => district.set_delay_ms(node, 0).await?,
                FaultKind::Loss => district.set_loss_pct(node, 0.0).await?,
                FaultKind::Skew => district.set_skew_ms(node, 0).await?,
                FaultKind::Crash | FaultKind::Kill | FaultKind::Wipe => district.restart(node).await?,
                FaultKind::Restore => district.restore(node).await?,
                FaultKind::Move | FaultKind::Split => {}
            }
            let healed = match &parent {
                Some(parent) => healed(district, node, parent).await?,
                None => None,
            };
            FaultDone::Ended { fault, parent, healed }
        }
        FaultJob::Move { index, community, from, to } => {
            district.accept(&community, &to).await?;
            let end = district
                .close(&from)
                .await?
                .ok_or_else(|| SimError::Run { reason: format!("{from} is down: {community} cannot leave it now") })?;
            FaultDone::Moving { index, end }
        }
        FaultJob::Release { index, community, from, to } => {
            district.release(&community, &from, &to).await?;
            district.reopen(&from).await?;
            FaultDone::Released { index, healed: healed(district, &community, &to).await? }
        }
        FaultJob::SplitBegin { index, community, street, new } => {
            district.begin_split(&street, &new).await?;
            let end = district
                .close(&community)
                .await?
                .ok_or_else(|| SimError::Run { reason: format!("{community} is down: it cannot be split now") })?;
            FaultDone::Splitting { index, end }
        }
        FaultJob::SplitRun { index, street, rule } => {
            FaultDone::Split { index, report: district.split(&street, &rule).await? }
        }
    })
}

async fn healed<D: District>(district: &D, node: &str, parent: &str) -> Result<Option<Healed>, SimError> {
    let Some(target) = district.log_end(node).await? else { return Ok(None) };
    let applied = district.link(node, parent).await?.map_or(0, |l| l.applied_up);
    let behind = target.saturating_sub(applied);
    let changes_zstd_bytes = district.changes_zstd_bytes(node, applied, target).await?;
    Ok(Some(Healed { target, behind, bytes: district.link_bytes(node)?, changes_zstd_bytes, at: district.now() }))
}

/// A look at how far a link has come: for a move's hand-over, a split's wait, or a
/// catch-up.
pub(super) enum PollJob {
    Handover { index: usize, community: String, from: String, district: String },
    Split { index: usize, community: String, street: String },
    CatchUp { id: usize, node: String, parent: String },
}

pub(super) enum Polled {
    Handover {
        index: usize,
        at_top: u64,
        at_community: u64,
    },
    Split {
        index: usize,
        applied: u64,
    },
    /// `parent_end`: the parent's log end at the look.
    CatchUp {
        id: usize,
        applied: u64,
        parent_end: u64,
        bytes: u64,
        at: Duration,
    },
}

pub(super) async fn poll<D: District>(district: &D, job: PollJob) -> Result<Polled, SimError> {
    Ok(match job {
        PollJob::Handover { index, community, from, district: top } => {
            let at_top = district.link(&from, &top).await?.map_or(0, |l| l.applied_up);
            let at_community = district.link(&community, &from).await?.map_or(0, |l| l.applied_down);
            Polled::Handover { index, at_top, at_community }
        }
        PollJob::Split { index, community, street } => {
            Polled::Split { index, applied: district.link(&community, &street).await?.map_or(0, |l| l.applied_up) }
        }
        PollJob::CatchUp { id, node, parent } => {
            let link = district.link(&node, &parent).await?;
            let (applied, parent_end) = link.map_or((0, 0), |l| (l.applied_up, l.parent_end));
            Polled::CatchUp { id, applied, parent_end, bytes: district.link_bytes(&node)?, at: district.now() }
        }
    })
}

/// A move begun: the new street took the community, the old one is handing over.
pub(super) struct Moving {
    community: String,
    from: String,
    to: String,
    /// The old street's log end when it stopped taking writes: applied at the
    /// district and at the community, the hand-over is done.
    end: u64,
    /// When its wait began, or last restarted (a wait for a street under a fault
    /// does not count against [`HANDOVER_MAX`]).
    started: Duration,
    /// When the hand-over first found the old street under a fault, if it did.
    waited_for_street: Option<Duration>,
}

/// A split begun: the community stopped writing, its street is catching up with it.
pub(super) struct Splitting {
    community: String,
    street: String,
    end: u64,
    started: Duration,
}

/// A node whose parent is catching up with what it wrote under its fault.
pub(super) struct Pending {
    node: String,
    parent: String,
    kind: FaultKind,
    down_ms: u64,
    healed: Healed,
    /// Once the parent (a street) has applied the node's log: the street's log end
    /// then, which the district must apply for the changes to be read there, and how
    /// long the parent took.
    to_district: Option<ToDistrict>,
}

pub(super) struct ToDistrict {
    target: u64,
    parent_ms: f64,
    /// The node's uplink bytes when its parent had applied its log.
    bytes: u64,
}

impl<D: District> Driver<'_, D> {
    /// Each fault's start and end on the queue; at one instant, ends before starts.
    pub(super) fn schedule_faults(&mut self) {
        let faults = &self.config.faults;
        let once = |f: &Fault| matches!(f.kind, FaultKind::Move | FaultKind::Split);
        let mut events: Vec<(u64, bool, usize)> = faults
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                let end = (!once(f)).then_some((f.end_ms, true, i));
                [Some((f.start_ms, false, i)), end].into_iter().flatten()
            })
            .collect();
        events.sort_by_key(|(at, is_end, i)| (*at, !is_end, *i));
        self.faults_open += events.len();
        for (at, end, index) in events {
            self.at(Duration::from_millis(at), Due::Fault { index, end });
        }
    }

    pub(super) fn prepare_fault(&mut self, index: usize, end: bool) -> Job {
        let fault = self.config.faults[index].clone();
        let node = fault.node.clone();
        tracing::info!(kind = ?fault.kind, node = %node, end, "fault");
        // Probes leave a node alone from its fault on; a moved or split community for
        // good (their street for it would be the old one).
        let job = match (fault.kind, end) {
            (FaultKind::Move, _) => {
                let to = fault.to.clone().unwrap_or_default();
                let from = self.roster.streets.insert(node.clone(), to.clone()).unwrap_or_default();
                self.faulted.insert(node.clone());
                let started = self.now();
                let job = FaultJob::Move { index, community: node.clone(), from: from.clone(), to: to.clone() };
                let waited_for_street = None;
                self.moving.insert(index, Moving { community: node, from, to, end: 0, started, waited_for_street });
                job
            }
            (FaultKind::Split, _) => {
                let street = self.roster.streets.get(&node).cloned().unwrap_or_default();
                self.roster.retired.insert(node.clone());
                let new = Topology::split_into(&node);
                for id in &new {
                    self.roster.streets.insert(id.clone(), street.clone());
                }
                self.faulted.insert(node.clone());
                let started = self.now();
                let job =
                    FaultJob::SplitBegin { index, community: node.clone(), street: street.clone(), new: new.to_vec() };
                self.splitting.insert(index, Splitting { community: node, street, end: 0, started });
                job
            }
            (_, false) => {
                self.faulted.insert(node);
                FaultJob::Start(fault)
            }
            (_, true) => {
                let parent = match self.roster.streets.get(&node) {
                    Some(street) => Some(street.clone()),
                    None => parent_of(&self.config.topology, &node),
                };
                FaultJob::End { fault, parent }
            }
        };
        Job::Fault(job)
    }

    pub(super) fn apply_fault(&mut self, done: FaultDone) -> Result<(), SimError> {
        match done {
            FaultDone::Started => self.faults_open -= 1,
            FaultDone::Ended { fault, parent, healed } => {
                self.faults_open -= 1;
                self.faulted.remove(&fault.node);
                // A clock set right carries nothing up: no catch-up to measure.
                let carried = fault.kind != FaultKind::Skew;
                if let (Some(parent), Some(healed), true) = (parent, healed, carried) {
                    let down_ms = fault.end_ms - fault.start_ms;
                    self.catch_up(Pending {
                        node: fault.node,
                        parent,
                        kind: fault.kind,
                        down_ms,
                        healed,
                        to_district: None,
                    });
                }
            }
            FaultDone::Moving { index, end } => {
                if let Some(moving) = self.moving.get_mut(&index) {
                    moving.end = end;
                }
                self.at(self.now(), Due::Handover(index));
            }
            FaultDone::Released { index, healed } => {
                self.faults_open -= 1;
                if let (Some(moving), Some(healed)) = (self.moving.remove(&index), healed) {
                    let (node, parent) = (moving.community, moving.to);
                    let kind = FaultKind::Move;
                    self.catch_up(Pending { node, parent, kind, down_ms: 0, healed, to_district: None });
                }
            }
            FaultDone::Splitting { index, end } => {
                if let Some(splitting) = self.splitting.get_mut(&index) {
                    splitting.end = end;
                }
                self.at(self.now(), Due::SplitPoll(index));
            }
            FaultDone::Split { index, report } => {
                self.faults_open -= 1;
                let splitting =
                    self.splitting.remove(&index).ok_or_else(|| SimError::Run { reason: "a split was lost".into() })?;
                self.splits.push(SplitDone {
                    community: splitting.community,
                    street: splitting.street,
                    moved: report.moved,
                    left: report.left,
                    time_ms: self.now().saturating_sub(splitting.started).as_secs_f64() * 1e3,
                });
            }
        }
        Ok(())
    }

    fn catch_up(&mut self, pending: Pending) {
        let id = self.next_catch_up;
        self.next_catch_up += 1;
        self.catching_up.insert(id, pending);
        self.at(self.now(), Due::CatchUp(id));
    }

    pub(super) fn prepare_handover(&mut self, index: usize) -> Option<Job> {
        let moving = self.moving.get(&index)?;
        Some(Job::Poll(PollJob::Handover {
            index,
            community: moving.community.clone(),
            from: moving.from.clone(),
            district: self.config.topology.parent_of_street(&moving.from).to_string(),
        }))
    }

    pub(super) fn prepare_release(&mut self, index: usize) -> Option<Job> {
        let moving = self.moving.get(&index)?;
        let (community, from, to) = (moving.community.clone(), moving.from.clone(), moving.to.clone());
        Some(Job::Fault(FaultJob::Release { index, community, from, to }))
    }

    pub(super) fn prepare_split_poll(&mut self, index: usize) -> Option<Job> {
        let splitting = self.splitting.get(&index)?;
        let (community, street) = (splitting.community.clone(), splitting.street.clone());
        Some(Job::Poll(PollJob::Split { index, community, street }))
    }

    pub(super) fn prepare_split_run(&mut self, index: usize) -> Result<Option<Job>, SimError> {
        let Some(splitting) = self.splitting.get(&index) else { return Ok(None) };
        let id = &splitting.community;
        let profile = self.config.topology.community(id).ok_or_else(|| SimError::NoNode { node: id.clone() })?;
        let rule = Topology::split_rule(profile);
        Ok(Some(Job::Fault(FaultJob::SplitRun { index, street: splitting.street.clone(), rule })))
    }

    pub(super) fn prepare_catch_up(&mut self, id: usize) -> Option<Job> {
        let pending = self.catching_up.get(&id)?;
        let (node, parent) = match pending.to_district {
            None => (pending.node.clone(), pending.parent.clone()),
            Some(_) => {
                let above = parent_of(&self.config.topology, &pending.parent)?;
                (pending.parent.clone(), above)
            }
        };
        Some(Job::Poll(PollJob::CatchUp { id, node, parent }))
    }

    pub(super) fn apply_polled(&mut self, polled: Polled) -> Result<(), SimError> {
        match polled {
            Polled::Handover { index, at_top, at_community } => {
                let now = self.now();
                let Some(moving) = self.moving.get_mut(&index) else { return Ok(()) };
                if at_top >= moving.end && at_community >= moving.end {
                    self.at(now, Due::Release(index));
                    return Ok(());
                }
                if self.faulted.contains(&moving.from) {
                    // As an operator would: the move stays pending (the old street's
                    // status shows its uplink down and its backlog) until the street is
                    // back, then hands over.
                    if moving.waited_for_street.is_none() {
                        tracing::info!(community = %moving.community, street = %moving.from, "hand-over waits for the street");
                    }
                    moving.waited_for_street.get_or_insert(now);
                    moving.started = now;
                }
                let what = format!(
                    "moving {}: {}'s log through {} is applied at {} through {at_top} and at {} through \
                     {at_community}",
                    moving.community,
                    moving.from,
                    moving.end,
                    self.config.topology.parent_of_street(&moving.from),
                    moving.community
                );
                let started = moving.started;
                self.wait_again(started, Due::Handover(index), what)
            }
            Polled::Split { index, applied } => {
                let Some(splitting) = self.splitting.get(&index) else { return Ok(()) };
                if applied >= splitting.end {
                    self.at(self.now(), Due::SplitRun(index));
                    return Ok(());
                }
                let what = format!(
                    "splitting {}: its log through {} is applied at {} through {applied}",
                    splitting.community, splitting.end, splitting.street
                );
                let started = splitting.started;
                self.wait_again(started, Due::SplitPoll(index), what)
            }
            Polled::CatchUp { id, applied, parent_end, bytes, at } => {
                self.caught_up(id, applied, parent_end, bytes, at);
                Ok(())
            }
        }
    }

    /// Looks again at `due` after [`HANDOVER_POLL`], unless a wait begun at `started`
    /// is past [`HANDOVER_MAX`]: then the run fails with `what`.
    fn wait_again(&mut self, started: Duration, due: Due, what: String) -> Result<(), SimError> {
        let now = self.now();
        if now.saturating_sub(started) > HANDOVER_MAX {
            return Err(SimError::Run { reason: format!("{what} after {} s", HANDOVER_MAX.as_secs()) });
        }
        self.at(now + HANDOVER_POLL, due);
        Ok(())
    }

    /// Records catch-up `id` once the district has applied what the node wrote under its
    /// fault (through its parent, if that is a street), else looks again. `applied` and
    /// `parent_end` are of the link looked at: the node's to its parent, then the
    /// parent's to the district.
    fn caught_up(&mut self, id: usize, applied: u64, parent_end: u64, bytes: u64, at: Duration) {
        let Some(pending) = self.catching_up.get_mut(&id) else { return };
        let parent_has_parent = self.config.topology.parent_of(&pending.parent).is_some();
        let since = at.saturating_sub(pending.healed.at);
        let since_ms = since.as_secs_f64() * 1e3;
        let (target, parent_ms, bytes) = match &pending.to_district {
            None => (pending.healed.target, None, bytes),
            Some(to) => (to.target, Some(to.parent_ms), to.bytes),
        };
        if applied >= target && parent_ms.is_none() && parent_has_parent {
            // The street has it: now the street's parent (the district) must apply the
            // street's log as far as it was at this look.
            pending.to_district = Some(ToDistrict { target: parent_end, parent_ms: since_ms, bytes });
            self.at(at, Due::CatchUp(id));
        } else if applied >= target {
            self.catch_ups.push(CatchUp {
                node: pending.node.clone(),
                kind: pending.kind,
                down_ms: pending.down_ms,
                log_entries: pending.healed.target,
                behind_entries: pending.healed.behind,
                time_ms: parent_ms.unwrap_or(since_ms),
                district_ms: since_ms,
                bytes: bytes - pending.healed.bytes,
                changes_zstd_bytes: pending.healed.changes_zstd_bytes,
            });
            self.catching_up.remove(&id);
        } else if since > CATCH_UP_MAX {
            self.catching_up.remove(&id);
        } else if !matches!(self.phase, super::Phase::Done { .. }) {
            self.at(at + CATCH_UP_POLL, Due::CatchUp(id));
        }
    }

    /// After settling: one last look at every catch-up still pending.
    pub(super) async fn last_catch_ups(&mut self) -> Result<(), SimError> {
        let ids: Vec<usize> = self.catching_up.keys().copied().collect();
        for id in ids {
            let Some(Job::Poll(job)) = self.prepare_catch_up(id) else { continue };
            if let Polled::CatchUp { id, applied, parent_end, bytes, at } = poll(self.district.as_ref(), job).await? {
                self.caught_up(id, applied, parent_end, bytes, at);
            }
        }
        self.catching_up.clear();
        Ok(())
    }
}
