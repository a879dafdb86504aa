//! The simulated network: one link per child, carrying the same frames as a real
//! link ([`linli_core::link::Frame`]) between the same [`Session`]s as a real link
//! (core's `link::session`: batches, windows, skipped entries, refusals, acks and
//! repair are decided there, for both). This file keeps only what a network is:
//! latency, loss, order per direction, sessions that break and reconnect with
//! backoff, and the timers a session asks for.
//!
//! Time is the simulator's: a frame arrives after a latency drawn from the seeded
//! generator (base, jitter, the link's added delay, its size over the bandwidth),
//! never before the frame sent ahead of it on the same direction (a stream is in
//! order). A lost frame breaks the session, as a reset TCP stream does; the link
//! reconnects after a backoff and resumes from the checkpoints, as a real one.
//!
//! Bytes are counted from the frames' payloads plus a fixed framing estimate per
//! frame and per entry; they compare runs of the simulator, not real wire bytes.

use super::node::SimNode;
use crate::error::SimError;
use crate::rng::Rng;
use crate::workload::Clock;
use linli_core::link::{Action, Frame, LinkLimits, PeerIs, Session};
use std::collections::{BTreeMap, VecDeque};

/// One-way latency of a frame on loopback-like links, before jitter.
const LATENCY_MS_BASE: f64 = 0.5;
/// Median jitter added to every frame (log-normal).
const JITTER_MS_MEDIAN: f64 = 0.3;
/// Bytes per simulated ms a link carries (about 100 Mbit/s).
const BYTES_PER_MS: f64 = 12_500.0;
/// A lost frame is noticed (keepalive timeout) this long after it was sent.
const LOSS_DETECT_MS: u64 = 1_000;
/// Framing estimate per frame and per log entry (ids, seq, lengths).
const FRAME_OVERHEAD_BYTES: u64 = 16;
const ENTRY_OVERHEAD_BYTES: u64 = 24;
/// Events in flight at most; past it the run stops with an error rather than grow.
const EVENTS_MAX: usize = 4_000_000;

/// Up: the child sends to its parent. Down: the parent sends to the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Up = 0,
    Down = 1,
}

/// The two ends of a link: the child's session with its parent, and the parent's
/// with the child. An end sends in the direction of its index.
const CHILD_END: usize = 0;
const PARENT_END: usize = 1;

fn dir_of(end: usize) -> Dir {
    if end == CHILD_END { Dir::Up } else { Dir::Down }
}

pub struct Link {
    pub child: usize,
    pub parent: usize,
    pub cut: bool,
    pub delay_ms: u64,
    pub loss: f64,
    /// Bumped whenever a session starts or breaks: frames of older ones are dropped.
    epoch: u64,
    /// The session at each end while the link is up: `[child's, parent's]`.
    active: Option<[Session; 2]>,
    connecting: bool,
    backoff_ms: u64,
    last_arrival_ms: [u64; 2],
    /// The timer each end's session asked for, if one is scheduled.
    timer_at: [Option<u64>; 2],
    pub bytes: u64,
    pub sessions: u64,
    /// How far each receiver has applied its sender's log: `[Up]` is the parent's
    /// checkpoint of the child, `[Down]` the child's of the parent.
    pub applied_through: [u64; 2],
    /// Virtual ms when the parent last applied from the child (or a sample saw it
    /// caught up): what a lag in seconds counts from.
    pub progress_ms: u64,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.active.is_some()
    }

    /// Nothing of the current session is unacknowledged or being applied.
    pub fn idle(&self) -> bool {
        self.active.as_ref().is_some_and(|ends| ends.iter().all(Session::idle))
    }
}

#[derive(Debug)]
enum NetEvent {
    Connect {
        link: usize,
    },
    Established {
        link: usize,
        epoch: u64,
    },
    Deliver {
        link: usize,
        epoch: u64,
        dir: Dir,
        frame: Frame,
    },
    Break {
        link: usize,
        epoch: u64,
    },
    /// A session's timer (skipped entries to announce).
    Timer {
        link: usize,
        epoch: u64,
        end: usize,
    },
}

/// A frame a node received and acted on: what the run may want to look at.
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub link: usize,
    pub dir: Dir,
    pub receiver: usize,
}

/// What one network step did.
#[derive(Debug, Clone, Copy)]
pub enum Stepped {
    /// No event was due: the network is quiet.
    Nothing,
    /// A connection attempt, a session start or break, a timer.
    Internal,
    Delivered(Delivered),
}

pub struct Net {
    pub now_ms: u64,
    /// The workload's clock: the nodes' wall time (before their skew) at `now_ms`,
    /// which bounds the time of the changes they take from peers.
    pub clock: Clock,
    pub nodes: Vec<SimNode>,
    pub links: Vec<Link>,
    /// The bounds every link runs with (the simulator's, see `crate::run`).
    pub limits: LinkLimits,
    /// The link of each child node, by node index.
    uplink: Vec<Option<usize>>,
    /// The links of each parent node, by node index.
    downlinks: Vec<Vec<usize>>,
    queue: BTreeMap<(u64, u64), NetEvent>,
    next_event: u64,
    rng: Rng,
}

fn overflow() -> SimError {
    SimError::Run { reason: format!("more than {EVENTS_MAX} network events in flight") }
}

impl Net {
    /// `edges`: (child, parent) node indexes.
    pub fn new(nodes: Vec<SimNode>, edges: &[(usize, usize)], limits: LinkLimits, rng: Rng) -> Self {
        let mut uplink = vec![None; nodes.len()];
        let mut downlinks = vec![Vec::new(); nodes.len()];
        let mut links = Vec::new();
        for (i, &(child, parent)) in edges.iter().enumerate() {
            uplink[child] = Some(i);
            downlinks[parent].push(i);
            links.push(Link {
                child,
                parent,
                cut: false,
                delay_ms: 0,
                loss: 0.0,
                epoch: 0,
                active: None,
                connecting: false,
                backoff_ms: limits.backoff_ms_min,
                last_arrival_ms: [0; 2],
                timer_at: [None; 2],
                bytes: 0,
                sessions: 0,
                applied_through: [0; 2],
                progress_ms: 0,
            });
        }
        let clock = Clock { start_ms: 0, speed: 1.0 };
        Self { now_ms: 0, clock, nodes, links, limits, uplink, downlinks, queue: BTreeMap::new(), next_event: 0, rng }
    }

    pub fn uplink(&self, node: usize) -> Option<usize> {
        self.uplink[node]
    }

    pub fn bytes(&self) -> u64 {
        self.links.iter().map(|l| l.bytes).sum()
    }

    /// When the next network event is due.
    pub fn next_at(&self) -> Option<u64> {
        self.queue.first_key_value().map(|((at, _), _)| *at)
    }

    fn schedule(&mut self, at_ms: u64, event: NetEvent) -> Result<(), SimError> {
        if self.queue.len() >= EVENTS_MAX {
            return Err(overflow());
        }
        self.next_event += 1;
        self.queue.insert((at_ms, self.next_event), event);
        Ok(())
    }

    /// Asks `link` to connect now (after a heal or a restart).
    pub fn connect(&mut self, link: usize) -> Result<(), SimError> {
        if self.links[link].connecting || self.links[link].is_up() {
            return Ok(());
        }
        self.links[link].connecting = true;
        self.schedule(self.now_ms, NetEvent::Connect { link })
    }

    /// Every link of `node`, up and down.
    pub fn links_of(&self, node: usize) -> Vec<usize> {
        self.uplink[node].into_iter().chain(self.downlinks[node].iter().copied()).collect()
    }

    /// Re-patches `link` from its child's old parent to `parent`: the session ends,
    /// and the next one starts from the two nodes' checkpoints of each other (none, for
    /// a new pair: each ships the other its log from the start).
    pub fn move_child(&mut self, link: usize, parent: usize) {
        self.break_link(link);
        let old = self.links[link].parent;
        self.downlinks[old].retain(|l| *l != link);
        self.downlinks[parent].push(link);
        let l = &mut self.links[link];
        l.parent = parent;
        l.applied_through = [0; 2];
        l.backoff_ms = self.limits.backoff_ms_min;
    }

    /// `node`'s subtree grew (a district took a street's communities): its parent took
    /// its subtree from its last Hello and would refuse the newcomers' changes, so its
    /// uplink's session starts again with a new Hello, as a server's does.
    fn announce_again(&mut self, node: usize) -> Result<(), SimError> {
        let Some(up) = self.uplink[node].filter(|up| self.links[*up].is_up()) else { return Ok(()) };
        self.break_link(up);
        self.connect(up)
    }

    /// Ends the current session of `link`; frames in flight are dropped.
    pub fn break_link(&mut self, link: usize) {
        let l = &mut self.links[link];
        l.epoch += 1;
        l.active = None;
        l.connecting = false;
        l.timer_at = [None; 2];
    }

    fn usable(&self, link: usize) -> bool {
        let l = &self.links[link];
        !l.cut && self.nodes[l.child].is_up() && self.nodes[l.parent].is_up()
    }

    /// Runs the next network event.
    pub fn step(&mut self) -> Result<Stepped, SimError> {
        let Some(((at_ms, _), event)) = self.queue.pop_first() else { return Ok(Stepped::Nothing) };
        self.now_ms = self.now_ms.max(at_ms);
        match event {
            NetEvent::Connect { link } => self.on_connect(link)?,
            NetEvent::Established { link, epoch } => self.on_established(link, epoch)?,
            NetEvent::Break { link, epoch } => {
                if self.links[link].epoch == epoch {
                    self.break_link(link);
                    self.retry(link)?;
                }
            }
            NetEvent::Timer { link, epoch, end } => {
                if self.links[link].epoch == epoch && self.links[link].is_up() {
                    self.links[link].timer_at[end] = None;
                    self.drive(link, end, Vec::new())?;
                }
            }
            NetEvent::Deliver { link, epoch, dir, frame } => {
                if self.links[link].epoch == epoch && self.links[link].is_up() {
                    return self.on_deliver(link, dir, frame).map(Stepped::Delivered);
                }
            }
        }
        Ok(Stepped::Internal)
    }

    fn retry(&mut self, link: usize) -> Result<(), SimError> {
        let max = self.limits.backoff_ms_max;
        let l = &mut self.links[link];
        if l.connecting {
            return Ok(());
        }
        l.connecting = true;
        let wait = l.backoff_ms;
        l.backoff_ms = (l.backoff_ms * 2).min(max);
        self.schedule(self.now_ms + wait, NetEvent::Connect { link })
    }

    fn on_connect(&mut self, link: usize) -> Result<(), SimError> {
        self.links[link].connecting = false;
        // A cut link or a down node: the heal or the restart asks again.
        if !self.usable(link) || self.links[link].is_up() {
            return Ok(());
        }
        self.links[link].connecting = true;
        self.links[link].epoch += 1;
        let epoch = self.links[link].epoch;
        // The Hellos cross: one round trip before either side ships.
        let rtt = self.latency_ms(link, 128) * 2;
        self.schedule(self.now_ms + rtt, NetEvent::Established { link, epoch })
    }

    fn on_established(&mut self, link: usize, epoch: u64) -> Result<(), SimError> {
        if self.links[link].epoch != epoch {
            return Ok(());
        }
        self.links[link].connecting = false;
        if !self.usable(link) {
            return Ok(());
        }
        let (child, parent) = (self.links[link].child, self.links[link].parent);
        let (child_id, parent_id) = (self.nodes[child].id.clone(), self.nodes[parent].id.clone());
        let child_hello = self.nodes[child].hello(&parent_id)?;
        // The parent takes the child's subtree from its Hello, as a real parent does;
        // a refused Hello ends the stream, and the child tries again after its backoff.
        match self.nodes[parent].accept(&child_id, &child_hello)? {
            Err(reason) => {
                tracing::warn!(child = %child_id, parent = %parent_id, %reason, "Hello refused");
                self.break_link(link);
                return self.retry(link);
            }
            Ok(true) => self.announce_again(parent)?,
            Ok(false) => {}
        }
        let parent_hello = self.nodes[parent].hello(&child_id)?;
        let hello_bytes = 2 * FRAME_OVERHEAD_BYTES
            + [&child_hello, &parent_hello]
                .iter()
                .map(|h| (h.log_id.len() + h.subtree.iter().map(String::len).sum::<usize>() + 48) as u64)
                .sum::<u64>();
        let now = self.now_ms;
        let child_named = self.nodes[child].named_entry(&child_hello, &parent_hello)?;
        let parent_named = self.nodes[parent].named_entry(&parent_hello, &child_hello)?;
        let (mut child_end, child_actions) =
            Session::start(&child_hello, &parent_hello, child_named.as_ref(), PeerIs::Parent, self.limits.clone(), now);
        let (mut parent_end, parent_actions) =
            Session::start(&parent_hello, &child_hello, parent_named.as_ref(), PeerIs::Child, self.limits.clone(), now);
        // Documents each side quarantined and has not repaired: synced where shared.
        child_end.on_quarantined(self.nodes[child].quarantined()?, &self.nodes[child].routes);
        parent_end.on_quarantined(self.nodes[parent].quarantined()?, &self.nodes[parent].routes);
        let l = &mut self.links[link];
        l.bytes += hello_bytes;
        l.sessions += 1;
        l.backoff_ms = self.limits.backoff_ms_min;
        // What each side holds of the other's log now; a wiped side starts over.
        l.applied_through = [parent_end.progress().applied_through, child_end.progress().applied_through];
        l.active = Some([child_end, parent_end]);
        self.drive(link, CHILD_END, child_actions)?;
        self.drive(link, PARENT_END, parent_actions)
    }

    /// Carries out what the session at `end` of `link` asks, starting with `actions`,
    /// until it asks for nothing more; then arms its timer if it wants one.
    fn drive(&mut self, link: usize, end: usize, actions: Vec<Action>) -> Result<(), SimError> {
        let node = if end == CHILD_END { self.links[link].child } else { self.links[link].parent };
        let mut queue: VecDeque<Action> = actions.into();
        let mut engine_stepped = false;
        loop {
            let Some(action) = queue.pop_front() else {
                let log_end = self.nodes[node].log_end()?;
                let now = self.now_ms;
                let Some(ends) = self.links[link].active.as_mut() else { return Ok(()) };
                match ends[end].poll(log_end, 0, now) {
                    Some(next) => queue.push_back(next),
                    None => break,
                }
                continue;
            };
            let action = match action {
                Action::Send(frame) => {
                    self.send(link, dir_of(end), frame)?;
                    continue;
                }
                other => other,
            };
            let now = self.now_ms;
            let wall_ms = u64::try_from(self.clock.virtual_ms(now as f64)).unwrap_or(0);
            let Some(ends) = self.links[link].active.as_mut() else { return Ok(()) };
            let session = &mut ends[end];
            let me = &mut self.nodes[node];
            let more: Vec<Action> = match action {
                Action::Send(_) => Vec::new(),
                Action::ReadLog { after, entries_max } => match me.log_after_for_link(after, entries_max)? {
                    Some(entries) => session.on_log(entries, &me.routes, now).into_iter().collect(),
                    None => {
                        // As a real session: the log was trimmed past the peer's
                        // checkpoint meanwhile; the next Hellos repair.
                        self.break_link(link);
                        return self.retry(link);
                    }
                },
                Action::Apply { docs, traces, checkpoint, actors_refused } => {
                    engine_stepped = true;
                    let through = checkpoint.through;
                    let (failed, waiting) =
                        me.apply(session.peer(), actors_refused, docs, traces, checkpoint, wall_ms)?;
                    if session.peer_is() == PeerIs::Child {
                        // As a server's pump: the child's watermarks above this node,
                        // carried by the batch's Ack.
                        let end = me.log_end()?;
                        let above = me.marks.applied(session.peer().as_str(), session.peer_log_id(), through, end);
                        let _ = session.on_durable_above(&above);
                    }
                    for (doc, reason) in &failed {
                        tracing::warn!(%doc, %reason, from = %session.peer(), "refused a peer's changes");
                    }
                    match session.on_applied(failed, waiting) {
                        Ok(actions) => actions,
                        Err(e) => {
                            // As a real session: changes that cannot apply yet end it,
                            // and the peer sends them again after the backoff.
                            tracing::warn!(error = %e, "link session ended");
                            self.break_link(link);
                            return self.retry(link);
                        }
                    }
                }
                Action::Sync { doc, message, actors_refused } => {
                    engine_stepped = true;
                    let (reply, refused) = me.sync(session.peer(), actors_refused, doc.clone(), message, wall_ms)?;
                    session.on_synced(doc, reply, refused)
                }
                Action::ListDocs => {
                    let docs = me.doc_ids()?;
                    session.on_docs(docs, &me.routes);
                    Vec::new()
                }
                Action::PeerRefused { seq, doc, reason } => {
                    tracing::warn!(seq, %doc, %reason, to = %session.peer(), "the peer refused a log entry");
                    Vec::new()
                }
                Action::RenewLog { stale } => {
                    // As a real session: the log takes a new identity and the session
                    // ends; the next Hellos make every peer repair.
                    me.renew_log(stale)?;
                    self.break_link(link);
                    return self.retry(link);
                }
            };
            queue.extend(more);
        }
        self.note_progress(link);
        self.arm_timer(link, end)?;
        if engine_stepped {
            // What this node applied is in its log now: its other links may ship it.
            self.pump_node(node)?;
        }
        Ok(())
    }

    fn note_progress(&mut self, link: usize) {
        let now = self.now_ms;
        let l = &mut self.links[link];
        if let Some(ends) = l.active.as_ref() {
            let applied = [ends[PARENT_END].progress().applied_through, ends[CHILD_END].progress().applied_through];
            if applied[Dir::Up as usize] > l.applied_through[Dir::Up as usize] {
                l.progress_ms = now;
            }
            l.applied_through = applied;
        }
    }

    fn arm_timer(&mut self, link: usize, end: usize) -> Result<(), SimError> {
        let l = &self.links[link];
        let Some(at) = l.active.as_ref().and_then(|ends| ends[end].deadline_ms()) else { return Ok(()) };
        if l.timer_at[end].is_some_and(|armed| armed <= at) {
            return Ok(());
        }
        let epoch = l.epoch;
        self.links[link].timer_at[end] = Some(at);
        self.schedule(at.max(self.now_ms), NetEvent::Timer { link, epoch, end })
    }

    fn latency_ms(&mut self, link: usize, bytes: u64) -> u64 {
        let jitter = self.rng.log_normal(JITTER_MS_MEDIAN, 0.8);
        let ms = LATENCY_MS_BASE + jitter + self.links[link].delay_ms as f64 + bytes as f64 / BYTES_PER_MS;
        ms.ceil() as u64
    }

    fn send(&mut self, link: usize, dir: Dir, frame: Frame) -> Result<(), SimError> {
        let bytes = frame_bytes(&frame);
        self.links[link].bytes += bytes;
        let epoch = self.links[link].epoch;
        let loss = self.links[link].loss;
        if loss > 0.0 && self.rng.chance(loss) {
            return self.schedule(self.now_ms + LOSS_DETECT_MS, NetEvent::Break { link, epoch });
        }
        let latency = self.latency_ms(link, bytes);
        let at = (self.now_ms + latency).max(self.links[link].last_arrival_ms[dir as usize]);
        self.links[link].last_arrival_ms[dir as usize] = at;
        self.schedule(at, NetEvent::Deliver { link, epoch, dir, frame })
    }

    /// Lets the session at `dir`'s sending end ship what it has for its peer.
    pub fn pump(&mut self, link: usize, dir: Dir) -> Result<(), SimError> {
        if !self.links[link].is_up() {
            return Ok(());
        }
        self.drive(link, dir as usize, Vec::new())
    }

    /// Pumps every link `node` sends on: after it wrote or applied something.
    pub fn pump_node(&mut self, node: usize) -> Result<(), SimError> {
        if let Some(up) = self.uplink[node] {
            self.pump(up, Dir::Up)?;
        }
        for down in self.downlinks[node].clone() {
            self.pump(down, Dir::Down)?;
        }
        Ok(())
    }

    /// As a server's pumps: the uplink `link`'s Acks moved `node`'s watermarks, so may
    /// its children's; each child's session sends what rose.
    fn carry_down(&mut self, link: usize, node: usize) -> Result<(), SimError> {
        let Some(ends) = self.links[link].active.as_ref() else { return Ok(()) };
        let progress = ends[CHILD_END].progress();
        if !self.nodes[node].marks.set_own(progress.acked_through, &progress.durable_above) {
            return Ok(());
        }
        for down in self.downlinks[node].clone() {
            let child = self.nodes[self.links[down].child].id.to_string();
            let above = self.nodes[node].marks.above(&child);
            let Some(ends) = self.links[down].active.as_mut() else { continue };
            let actions: Vec<Action> = ends[PARENT_END].on_durable_above(&above).into_iter().collect();
            if !actions.is_empty() {
                self.drive(down, PARENT_END, actions)?;
            }
        }
        Ok(())
    }

    fn on_deliver(&mut self, link: usize, dir: Dir, frame: Frame) -> Result<Delivered, SimError> {
        let end = match dir {
            Dir::Up => PARENT_END,
            Dir::Down => CHILD_END,
        };
        let receiver = if end == CHILD_END { self.links[link].child } else { self.links[link].parent };
        let delivered = Delivered { link, dir, receiver };
        let Some(ends) = self.links[link].active.as_mut() else { return Ok(delivered) };
        match ends[end].on_frame(frame, &self.nodes[receiver].routes) {
            Ok(actions) => {
                self.drive(link, end, actions)?;
                if end == CHILD_END {
                    self.carry_down(link, receiver)?;
                }
            }
            Err(e) => {
                // As a real session: a peer that breaks the protocol ends it.
                tracing::warn!(error = %e, "link session ended");
                self.break_link(link);
                self.retry(link)?;
            }
        }
        Ok(delivered)
    }
}

fn frame_bytes(frame: &Frame) -> u64 {
    let payload = match frame {
        Frame::Batch { entries, .. } => entries
            .iter()
            .map(|e| {
                ENTRY_OVERHEAD_BYTES
                    + e.doc.to_string().len() as u64
                    + e.changes.iter().map(|c| c.len() as u64).sum::<u64>()
            })
            .sum(),
        Frame::Sync { doc, message } => doc.to_string().len() as u64 + message.len() as u64,
        Frame::Refusal { doc, reason, .. } => (doc.len() + reason.len()) as u64,
        Frame::Ack { above, .. } => 8 + 8 * above.len() as u64,
        Frame::Hello(_) => 8,
    };
    FRAME_OVERHEAD_BYTES + payload
}
