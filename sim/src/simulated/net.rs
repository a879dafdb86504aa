//! The simulated network: one link per child, carrying the same frames as a real
//! link ([`linli_core::link::Frame`]) with the same rules: Hellos and
//! [`linli_core::link::resume`], batches of log entries filtered by [`Routes`], acks
//! within a window, refusals at the parent, and Automerge's sync protocol for repair.
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
use linli_core::ids::{DocId, NodeId};
use linli_core::link::{self, Checkpoint, Frame};
use linli_core::store::LogEntry;
use std::collections::{BTreeMap, VecDeque};

/// One-way latency of a frame on loopback-like links, before jitter.
const LATENCY_MS_BASE: f64 = 0.5;
/// Median jitter added to every frame (log-normal).
const JITTER_MS_MEDIAN: f64 = 0.3;
/// Bytes per simulated ms a link carries (about 100 Mbit/s).
const BYTES_PER_MS: f64 = 12_500.0;
/// A lost frame is noticed (keepalive timeout) this long after it was sent.
const LOSS_DETECT_MS: u64 = 1_000;
/// Reconnect backoff after a broken session, doubled per failure up to the max.
const BACKOFF_MS_MIN: u64 = 50;
const BACKOFF_MS_MAX: u64 = 2_000;
/// As a real link's config: entries and bytes per batch, batches unacknowledged.
const BATCH_ENTRIES_MAX: usize = 256;
const BATCH_BYTES_MAX: usize = 1 << 20;
const WINDOW_BATCHES_MAX: usize = 4;
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

impl Dir {
    fn back(self) -> Dir {
        match self {
            Dir::Up => Dir::Down,
            Dir::Down => Dir::Up,
        }
    }
}

#[derive(Debug, Default)]
struct Sender {
    cursor: u64,
    announced: u64,
    in_flight: VecDeque<u64>,
    /// The sender's log identity at the session's start, for the receiver's checkpoint.
    log_id: String,
}

#[derive(Debug)]
struct Session {
    senders: [Sender; 2],
}

#[derive(Debug)]
pub struct Link {
    pub child: usize,
    pub parent: usize,
    pub cut: bool,
    pub delay_ms: u64,
    pub loss: f64,
    /// Bumped whenever a session starts or breaks: frames of older ones are dropped.
    epoch: u64,
    active: Option<Session>,
    connecting: bool,
    backoff_ms: u64,
    last_arrival_ms: [u64; 2],
    pub bytes: u64,
    pub sessions: u64,
    /// How far each receiver has applied its sender's log: `[Up]` is the parent's
    /// checkpoint of the child, `[Down]` the child's of the parent.
    pub applied_through: [u64; 2],
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.active.is_some()
    }

    /// No frame of the current session is unacknowledged.
    pub fn idle(&self) -> bool {
        self.active.as_ref().is_some_and(|s| s.senders.iter().all(|d| d.in_flight.is_empty()))
    }
}

#[derive(Debug)]
enum NetEvent {
    Connect { link: usize },
    Established { link: usize, epoch: u64 },
    Deliver { link: usize, epoch: u64, dir: Dir, frame: Frame },
    Break { link: usize, epoch: u64 },
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
    /// A connection attempt, a session start or break.
    Internal,
    Delivered(Delivered),
}

pub struct Net {
    pub now_ms: u64,
    pub nodes: Vec<SimNode>,
    pub links: Vec<Link>,
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
    pub fn new(nodes: Vec<SimNode>, edges: &[(usize, usize)], rng: Rng) -> Self {
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
                backoff_ms: BACKOFF_MS_MIN,
                last_arrival_ms: [0; 2],
                bytes: 0,
                sessions: 0,
                applied_through: [0; 2],
            });
        }
        Self { now_ms: 0, nodes, links, uplink, downlinks, queue: BTreeMap::new(), next_event: 0, rng }
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
        l.backoff_ms = BACKOFF_MS_MIN;
    }

    /// Ends the current session of `link`; frames in flight are dropped.
    pub fn break_link(&mut self, link: usize) {
        let l = &mut self.links[link];
        l.epoch += 1;
        l.active = None;
        l.connecting = false;
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
            NetEvent::Deliver { link, epoch, dir, frame } => {
                if self.links[link].epoch == epoch && self.links[link].is_up() {
                    return self.on_deliver(link, dir, frame).map(Stepped::Delivered);
                }
            }
        }
        Ok(Stepped::Internal)
    }

    fn retry(&mut self, link: usize) -> Result<(), SimError> {
        let l = &mut self.links[link];
        if l.connecting {
            return Ok(());
        }
        l.connecting = true;
        let wait = l.backoff_ms;
        l.backoff_ms = (l.backoff_ms * 2).min(BACKOFF_MS_MAX);
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
        let parent_hello = self.nodes[parent].hello(&child_id)?;
        let hello_bytes = 2 * FRAME_OVERHEAD_BYTES
            + [&child_hello, &parent_hello]
                .iter()
                .map(|h| (h.log_id.len() + h.subtree.iter().map(String::len).sum::<usize>() + 48) as u64)
                .sum::<u64>();
        let up = link::resume(&child_hello, &parent_hello);
        let down = link::resume(&parent_hello, &child_hello);
        let l = &mut self.links[link];
        l.bytes += hello_bytes;
        l.sessions += 1;
        l.backoff_ms = BACKOFF_MS_MIN;
        // What each side holds of the other's log now; a wiped side starts over.
        l.applied_through = [up.send_after, down.send_after];
        l.active = Some(Session {
            senders: [
                Sender {
                    cursor: up.send_after,
                    announced: up.send_after,
                    in_flight: VecDeque::new(),
                    log_id: child_hello.log_id.clone(),
                },
                Sender {
                    cursor: down.send_after,
                    announced: down.send_after,
                    in_flight: VecDeque::new(),
                    log_id: parent_hello.log_id.clone(),
                },
            ],
        });
        if up.repair {
            self.start_repair(link)?;
        }
        self.pump(link, Dir::Up)?;
        self.pump(link, Dir::Down)
    }

    /// Both ends start Automerge's sync protocol on every document they share.
    fn start_repair(&mut self, link: usize) -> Result<(), SimError> {
        let (child, parent) = (self.links[link].child, self.links[link].parent);
        let (child_id, parent_id) = (self.nodes[child].id.clone(), self.nodes[parent].id.clone());
        // Up, everything: a parent that lost its disk also lost what it broadcast.
        for doc in self.nodes[child].doc_ids()? {
            if let Some(message) = self.nodes[child].sync(&parent_id, doc.clone(), None)? {
                self.send(link, Dir::Up, Frame::Sync { doc, message })?;
            }
        }
        for doc in self.nodes[parent].doc_ids()? {
            if !self.nodes[parent].routes.shares_down(&doc, &child_id) {
                continue;
            }
            if let Some(message) = self.nodes[parent].sync(&child_id, doc.clone(), None)? {
                self.send(link, Dir::Down, Frame::Sync { doc, message })?;
            }
        }
        Ok(())
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

    /// Ships what `dir`'s sender has for its peer, within the window.
    pub fn pump(&mut self, link: usize, dir: Dir) -> Result<(), SimError> {
        let (child, parent) = (self.links[link].child, self.links[link].parent);
        let (sender, peer) = match dir {
            Dir::Up => (child, parent),
            Dir::Down => (parent, child),
        };
        let peer_id = self.nodes[peer].id.clone();
        loop {
            let Some(session) = self.links[link].active.as_mut() else { return Ok(()) };
            let state = &mut session.senders[dir as usize];
            if state.in_flight.len() >= WINDOW_BATCHES_MAX {
                return Ok(());
            }
            let end = self.nodes[sender].log_end()?;
            if state.cursor >= end {
                // Everything left was not for the peer: say so once the window is
                // empty, so a reconnect does not rescan it.
                if state.cursor > state.announced && state.in_flight.is_empty() {
                    let through = state.cursor;
                    state.announced = through;
                    state.in_flight.push_back(through);
                    self.send(link, dir, Frame::Batch { entries: Vec::new(), through })?;
                }
                return Ok(());
            }
            let cursor = state.cursor;
            let entries = self.nodes[sender].log_after(cursor, BATCH_ENTRIES_MAX)?;
            let routes = &self.nodes[sender].routes;
            let mut batch: Vec<LogEntry> = Vec::new();
            let mut bytes = 0usize;
            let mut through = cursor;
            for entry in entries {
                let size = entry.changes.iter().map(Vec::len).sum::<usize>() + 64;
                if !batch.is_empty() && bytes + size > BATCH_BYTES_MAX {
                    break;
                }
                through = entry.seq;
                let ships = match dir {
                    Dir::Up => routes.ships_up(&entry, &peer_id),
                    Dir::Down => routes.ships_down(&entry, &peer_id),
                };
                if ships {
                    bytes += size;
                    batch.push(entry);
                }
            }
            let Some(session) = self.links[link].active.as_mut() else { return Ok(()) };
            let state = &mut session.senders[dir as usize];
            state.cursor = through;
            if batch.is_empty() {
                continue;
            }
            state.announced = through;
            state.in_flight.push_back(through);
            self.send(link, dir, Frame::Batch { entries: batch, through })?;
        }
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

    fn on_deliver(&mut self, link: usize, dir: Dir, frame: Frame) -> Result<Delivered, SimError> {
        let (child, parent) = (self.links[link].child, self.links[link].parent);
        let (sender, receiver) = match dir {
            Dir::Up => (child, parent),
            Dir::Down => (parent, child),
        };
        let sender_id = self.nodes[sender].id.clone();
        match frame {
            Frame::Batch { entries, through } => {
                let docs = self.group(link, dir, &sender_id, entries);
                let log_id = self.links[link]
                    .active
                    .as_ref()
                    .map_or_else(String::new, |s| s.senders[dir as usize].log_id.clone());
                for (doc, reason) in self.nodes[receiver].apply(&sender_id, docs, Checkpoint { log_id, through })? {
                    tracing::warn!(%doc, %reason, from = %sender_id, "refused a peer's changes");
                }
                self.links[link].applied_through[dir as usize] = through;
                self.send(link, dir.back(), Frame::Ack { through })?;
                self.pump_node(receiver)?;
            }
            Frame::Ack { through } => {
                if let Some(session) = self.links[link].active.as_mut() {
                    let acked = &mut session.senders[dir.back() as usize];
                    while acked.in_flight.front().is_some_and(|&t| t <= through) {
                        acked.in_flight.pop_front();
                    }
                }
                self.pump(link, dir.back())?;
            }
            Frame::Sync { doc, message } => {
                if let Some(reason) = self.refusal(link, dir, &sender_id, &doc) {
                    tracing::warn!(%doc, %reason, from = %sender_id, "refused a sync message");
                } else if let Some(reply) = self.nodes[receiver].sync(&sender_id, doc.clone(), Some(message))? {
                    self.send(link, dir.back(), Frame::Sync { doc, message: reply })?;
                }
                self.pump_node(receiver)?;
            }
            Frame::Refusal { .. } | Frame::Hello(_) => {}
        }
        Ok(Delivered { link, dir, receiver })
    }

    /// Why the parent would not take changes to `doc` from this child, if it would not.
    fn refusal(&self, link: usize, dir: Dir, sender: &NodeId, doc: &DocId) -> Option<String> {
        let parent = self.links[link].parent;
        (dir == Dir::Up).then(|| self.nodes[parent].routes.refuses_from_child(sender, doc)).flatten()
    }

    /// A batch's entries by document, those the parent refuses from this child left out.
    fn group(&self, link: usize, dir: Dir, sender: &NodeId, entries: Vec<LogEntry>) -> Vec<(DocId, Vec<Vec<u8>>)> {
        let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
        for entry in entries {
            if let Some(reason) = self.refusal(link, dir, sender, &entry.doc) {
                tracing::warn!(doc = %entry.doc, %reason, from = %sender, "refused a log entry");
                continue;
            }
            match docs.iter().position(|(doc, _)| *doc == entry.doc) {
                Some(i) => docs[i].1.extend(entry.changes),
                None => docs.push((entry.doc, entry.changes)),
            }
        }
        docs
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
        Frame::Ack { .. } | Frame::Hello(_) => 8,
    };
    FRAME_OVERHEAD_BYTES + payload
}
