//! One session of a link: everything the link decides, without I/O.
//!
//! A [`Session`] is this node's end of one child-parent stream, the same at both ends
//! once the [`Hello`]s are exchanged. It holds the cursor in this node's log, what was
//! announced to the peer, the unacknowledged window, what is being applied from the
//! peer and the documents waiting for repair. It takes events — a frame from the peer,
//! log entries the runtime read for it, the engine's answer to a batch or a sync step,
//! the time — and returns [`Action`]s: frames to send, log to read, batches and sync
//! steps for the engine, documents to list. It never reads a clock, a socket or a
//! disk, so the server's tokio pump (`linli-node`) and the simulator's network drive
//! the very same decisions, and the tests below drive it with a script.
//!
//! The contract with the runtime that drives it:
//! - call [`Session::poll`] until it returns `None` after every event, and again at
//!   [`Session::deadline_ms`];
//! - answer [`Action::ReadLog`] with [`Session::on_log`], [`Action::Apply`] with
//!   [`Session::on_applied`] once the batch *and its checkpoint* are durable (one
//!   synced write), [`Action::Sync`] with [`Session::on_synced`], [`Action::ListDocs`]
//!   with [`Session::on_docs`];
//! - hand it no frame of the peer while an `Apply` it returned is not answered (a
//!   stream is read one frame at a time; the pump stops reading meanwhile);
//! - send the frames of [`Action::Send`] in the order they come.
//!
//! Why the pieces are where they are:
//! - [`send`]: batches bounded in entries and bytes, filtered by [`Routes`], at most
//!   `window_batches_max` unacknowledged; entries skipped for the peer are announced
//!   after a quiet period (an empty batch), so a reconnect does not rescan them;
//! - [`receive`]: a batch becomes one group per document for the engine and the
//!   checkpoint to persist with them; entries outside a child's subtree are refused
//!   (a `Refusal` frame naming the entry and why) and the rest still applies; the
//!   `Ack` goes out only once the engine says the batch is durable;
//! - [`repair`]: when a checkpoint names a log the other side no longer has, or
//!   points past its end (a wiped disk, a restored backup), Automerge's sync protocol
//!   runs on every shared document, a few documents at a time.

mod receive;
mod repair;
mod send;
#[cfg(test)]
mod tests;

use super::Checkpoint;
use super::{Frame, Hello, LinkLimits, Routes, durable, log_diverged, resume};
use crate::error::Error;
use crate::ids::{DocId, NodeId};
use crate::store::LogEntry;
use std::collections::BTreeSet;

/// What the peer of a session is to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerIs {
    Parent,
    Child,
}

/// What the runtime does for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this frame to the peer, after the frames of earlier actions.
    Send(Frame),
    /// Read this node's log after `after`, at most `entries_max` entries, and hand them
    /// to [`Session::on_log`].
    ReadLog { after: u64, entries_max: usize },
    /// Apply the peer's changes, one group per document, and persist `checkpoint` in
    /// the same durable write; then answer [`Session::on_applied`].
    /// `actors_refused`: the nodes under whose actors the peer may not write (see
    /// [`crate::replica::Event::Changes`]).
    /// `traces`: per document, the trace contexts its entries carried.
    Apply {
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        traces: crate::replica::Traces,
        checkpoint: Checkpoint,
        actors_refused: BTreeSet<String>,
    },
    /// One step of Automerge's sync protocol with the peer on `doc`: receive `message`,
    /// or (`None`) start over; then answer [`Session::on_synced`]. `actors_refused` as
    /// in [`Action::Apply`].
    Sync { doc: DocId, message: Option<Vec<u8>>, actors_refused: BTreeSet<String> },
    /// List every document this node holds and hand them to [`Session::on_docs`]
    /// (repair starts from them).
    ListDocs,
    /// The peer refused one of this node's log entries: for the runtime to log and count.
    PeerRefused { seq: u64, doc: String, reason: String },
    /// The peer acknowledged entries of log `stale` that this node's log holds
    /// otherwise, or no longer holds: its store was restored from an older backup
    /// (and may have written on under the same numbers). The runtime renews the log's identity
    /// ([`crate::replica::Event::RenewLog`]) and ends the session: on the next connect
    /// every peer sees a new log and repairs, where resuming from its checkpoint would
    /// skip the entries written since the restore. The only action of such a session.
    RenewLog { stale: String },
}

/// Where a session stands, for status, metrics and the simulator's probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// This node's log: shipped to the peer through (skipped entries included), and
    /// acknowledged by the peer through.
    pub sent_through: u64,
    pub acked_through: u64,
    /// The peer's log: applied here through (durable), and its end as last known.
    pub applied_through: u64,
    pub peer_log_end: u64,
    /// This node's log durable at the tiers above the peer (a parent's watermarks,
    /// see [`crate::link::durable`]): `[0]` at the peer's parent, and so on up. Empty
    /// towards a child.
    pub durable_above: Vec<u64>,
    /// Batches sent and not acknowledged.
    pub in_flight: usize,
    /// Whether this session runs the repair path.
    pub repair: bool,
}

pub struct Session {
    peer: NodeId,
    peer_is: PeerIs,
    peer_log_id: String,
    limits: LinkLimits,
    send: send::Sender,
    receive: receive::Receiver,
    repair: repair::Repair,
    /// This node lost its state of the link (see [`crate::link::Resume::i_lost`]).
    i_lost: bool,
    /// The peer lost its state of the link (see [`crate::link::Resume::peer_lost`]).
    peer_lost: bool,
    /// The session asked for [`Action::RenewLog`]: it does nothing more.
    ended: bool,
    /// Towards a parent: this node's log durable at the tiers above it, as its Acks
    /// said. Towards a child: the child's log durable at the tiers above this node,
    /// as this node last computed it ([`Session::on_durable_above`]), sent with every Ack.
    above: Vec<u64>,
}

fn broken(peer: &NodeId, reason: String) -> Error {
    Error::Link { peer: peer.to_string(), reason }
}

impl Session {
    /// The session after the Hellos: `mine` as sent, `theirs` as received, and
    /// `named`, this node's log entry at the peer's checkpoint
    /// ([`crate::link::named_seq`]; `None` when there is none). Returns
    /// [`Action::ListDocs`] when the link must repair, and only
    /// [`Action::RenewLog`] when the log diverged from what the peer acknowledged.
    pub fn start(
        mine: &Hello,
        theirs: &Hello,
        named: Option<&LogEntry>,
        peer_is: PeerIs,
        limits: LinkLimits,
        now_ms: u64,
    ) -> (Self, Vec<Action>) {
        let resume = resume(mine, theirs);
        let diverged = log_diverged(mine, theirs, named);
        // What this node holds of the peer's log, durable from an earlier session; none
        // when the checkpoint no longer holds (the peer's log is new, or ends before it).
        let applied = mine
            .checkpoint
            .as_ref()
            .filter(|cp| cp.log_id == theirs.log_id && cp.through <= theirs.log_end)
            .map_or(0, |cp| cp.through);
        let session = Self {
            peer: theirs.node.clone(),
            peer_is,
            peer_log_id: theirs.log_id.clone(),
            send: send::Sender::new(resume.send_after, now_ms),
            receive: receive::Receiver::new(applied, theirs.log_end),
            repair: repair::Repair::new(resume.repair),
            i_lost: resume.i_lost,
            peer_lost: resume.peer_lost,
            ended: false,
            above: Vec::new(),
            limits,
        };
        let actions = match (diverged, resume.repair) {
            (true, _) => {
                tracing::warn!(peer = %theirs.node, log = %mine.log_id, "the peer acknowledged entries this log holds otherwise (restored from a backup?): renewing the log");
                vec![Action::RenewLog { stale: mine.log_id.clone() }]
            }
            (false, true) => vec![Action::ListDocs],
            (false, false) => Vec::new(),
        };
        let mut session = session;
        session.ended = diverged;
        (session, actions)
    }

    pub fn peer(&self) -> &NodeId {
        &self.peer
    }

    pub fn peer_is(&self) -> PeerIs {
        self.peer_is
    }

    /// The identity of the peer's log this session applies.
    pub fn peer_log_id(&self) -> &str {
        &self.peer_log_id
    }

    pub fn limits(&self) -> &LinkLimits {
        &self.limits
    }

    /// The next thing to do on this node's side, given its log's end, its backlog (the
    /// frames waiting to be sent and the engine steps queued for this link), and the
    /// time: read more log, announce skipped entries, or start repairing one more
    /// document. `None`: wait for an event or the deadline.
    pub fn poll(&mut self, log_end: u64, backlog: usize, now_ms: u64) -> Option<Action> {
        if self.ended {
            return None;
        }
        if let Some(action) = self.send.poll(&self.limits, log_end, now_ms) {
            return Some(action);
        }
        self.repair.poll(backlog, now_ms)
    }

    /// When to call [`Session::poll`] again if nothing else happens.
    pub fn deadline_ms(&self) -> Option<u64> {
        match (self.send.deadline_ms(&self.limits), self.repair.deadline_ms()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The log entries an [`Action::ReadLog`] asked for; returns the batch to send,
    /// if any of them is for the peer.
    pub fn on_log(&mut self, entries: Vec<LogEntry>, routes: &Routes, now_ms: u64) -> Option<Action> {
        let ships = |entry: &LogEntry| match self.peer_is {
            PeerIs::Parent => routes.ships_up(entry, &self.peer),
            PeerIs::Child => routes.ships_down(entry, &self.peer),
        };
        self.send.on_log(&self.limits, entries, ships, now_ms)
    }

    /// A frame from the peer. An error means the peer broke the protocol: the session
    /// ends (the link reconnects and resumes from the checkpoints).
    pub fn on_frame(&mut self, frame: Frame, routes: &Routes) -> Result<Vec<Action>, Error> {
        if self.ended {
            return Err(broken(&self.peer, "this node renews its log: the session is over".into()));
        }
        match frame {
            Frame::Batch { entries, through, fingerprint } => {
                let (peer, peer_is) = (&self.peer, self.peer_is);
                let refuses = |doc: &DocId| refusal(peer_is, peer, routes, doc);
                let checkpoint_log = self.peer_log_id.clone();
                let checkpoint = Checkpoint { log_id: checkpoint_log, through, fingerprint };
                let actors_refused = self.actors_refused(routes);
                let actions = self.receive.on_batch(entries, checkpoint, actors_refused, refuses).map_err(
                    |refused| match refused {
                        receive::BatchRefused::Broken(reason) => broken(peer, reason),
                        receive::BatchRefused::OverBound(reason) => {
                            Error::LinkOverBound { peer: peer.to_string(), reason }
                        }
                    },
                )?;
                Ok(self.with_above(actions))
            }
            Frame::Ack { through, above } => {
                self.send.on_ack(through).map_err(|reason| broken(&self.peer, reason))?;
                match self.peer_is {
                    PeerIs::Parent => {
                        // A tier above cannot hold more of this log than the parent
                        // acknowledged, nor one tier more than the tier below it.
                        durable::check_above(through, &above).map_err(|reason| broken(&self.peer, reason))?;
                        durable::raise(&mut self.above, &above);
                    }
                    // A child has nothing above this node to tell.
                    PeerIs::Child if !above.is_empty() => {
                        return Err(broken(&self.peer, "a child's Ack carries watermarks above it".into()));
                    }
                    PeerIs::Child => {}
                }
                Ok(Vec::new())
            }
            Frame::Refusal { seq, doc, reason } => Ok(vec![Action::PeerRefused { seq, doc, reason }]),
            Frame::Sync { doc, message } => {
                let refused = |doc: &DocId, reason: String| Frame::Refusal { seq: 0, doc: doc.to_string(), reason };
                let actors_refused = self.actors_refused(routes);
                Ok(match self.sync_refusal(routes, &doc) {
                    None => self.take_sync(doc, message, actors_refused),
                    // A child's answer on what this node broadcasts to it: the protocol
                    // needs its heads (they say what to send), never its changes.
                    Some(reason) if self.peer_is == PeerIs::Child && routes.shares_down(&doc, &self.peer) => {
                        match crate::doc::sync_heads_only(&doc.to_string(), &message) {
                            Err(e) => vec![Action::Send(refused(&doc, e.to_string()))],
                            Ok((heads, carried)) => {
                                let refusal = carried.then(|| Action::Send(refused(&doc, reason)));
                                refusal.into_iter().chain(self.take_sync(doc, heads, actors_refused)).collect()
                            }
                        }
                    }
                    Some(reason) => vec![Action::Send(refused(&doc, reason))],
                })
            }
            Frame::Hello(_) => Err(broken(&self.peer, "a second Hello".into())),
        }
    }

    /// The peer's sync message on `doc`, taken. The engine keeps the protocol's state
    /// per peer and document across sessions; the peer's may have gone back meanwhile
    /// (a restored backup) while the kept state says what it held before, and changes
    /// it lost would never be offered again. A session's first message on a document
    /// therefore starts this side over too.
    fn take_sync(&mut self, doc: DocId, message: Vec<u8>, actors_refused: BTreeSet<String>) -> Vec<Action> {
        let mut actions = Vec::with_capacity(2);
        self.repair.note_sync();
        if self.repair.first_message(&doc) {
            actions.push(Action::Sync { doc: doc.clone(), message: None, actors_refused: BTreeSet::new() });
        }
        actions.push(Action::Sync { doc, message: Some(message), actors_refused });
        actions
    }

    /// The nodes under whose actors the peer may not write: from a child, this node
    /// and its other children's subtrees ([`Routes::actors_refused_from`]); nothing
    /// from a parent, nor from a child while this node lost its state (the child then
    /// gives back every change this node held, its own included).
    fn actors_refused(&self, routes: &Routes) -> BTreeSet<String> {
        match self.peer_is {
            PeerIs::Child if !self.i_lost => routes.actors_refused_from(&self.peer),
            _ => BTreeSet::new(),
        }
    }

    /// The engine applied the last [`Action::Apply`] and made it durable; `failed`
    /// lists the documents it did not take, with why. Returns the refusals and the
    /// `Ack`. A document that failed for a reason that may pass
    /// ([`Error::may_pass`]: the engine then kept the checkpoint back) ends the
    /// session instead, with no `Ack`: the link reconnects after its backoff and the
    /// peer sends the batch again from the durable checkpoint.
    ///
    /// `waiting`: documents that hold changes waiting for their dependencies (stored,
    /// so the `Ack` covers them). Each is synced with the peer, which holds every
    /// dependency of what it sent.
    pub fn on_applied(&mut self, failed: Vec<(DocId, Error)>, waiting: Vec<DocId>) -> Result<Vec<Action>, Error> {
        if let Some((doc, e)) = failed.iter().find(|(_, e)| e.may_pass()) {
            self.receive.on_retry();
            let reason = format!("document {doc} cannot apply yet ({e}); the peer sends it again from the checkpoint");
            return Err(broken(&self.peer, reason));
        }
        for doc in waiting {
            self.repair.sync_soon(doc);
        }
        let actions = self.receive.on_applied(failed.into_iter().map(|(doc, e)| (doc, e.to_string())).collect());
        Ok(self.with_above(actions))
    }

    /// Towards a child: how far the child's log is durable at the tiers above this node
    /// now (from [`crate::link::durable::Durable::above`]). When that raised what the
    /// child was last told, an `Ack` of what is applied carries it down.
    pub fn on_durable_above(&mut self, above: &[u64]) -> Option<Action> {
        if self.peer_is != PeerIs::Child || self.ended || !durable::raise(&mut self.above, above) {
            return None;
        }
        let through = self.receive.applied_through();
        (through > 0 && !self.receive.applying())
            .then(|| Action::Send(Frame::Ack { through, above: durable::capped(through, &self.above) }))
    }

    /// Puts the watermarks above this node on the `Ack`s among `actions` (towards a
    /// child; towards a parent they stay empty).
    fn with_above(&self, mut actions: Vec<Action>) -> Vec<Action> {
        if self.peer_is == PeerIs::Child && !self.above.is_empty() {
            for action in &mut actions {
                if let Action::Send(Frame::Ack { through, above }) = action {
                    *above = durable::capped(*through, &self.above);
                }
            }
        }
        actions
    }

    /// The engine ran a sync step on `doc`: the message to send next, or why the
    /// peer's message was refused.
    pub fn on_synced(&mut self, doc: DocId, reply: Option<Vec<u8>>, refused: Option<String>) -> Vec<Action> {
        let mut actions = Vec::new();
        self.repair.note_sync();
        if let Some(reason) = refused {
            actions.push(Action::Send(Frame::Refusal { seq: 0, doc: doc.to_string(), reason }));
        }
        if let Some(message) = reply {
            actions.push(Action::Send(Frame::Sync { doc, message }));
        }
        actions
    }

    /// Every document this node holds, as [`Action::ListDocs`] asked: those this
    /// side may send wait for their repair. Down, what the child shares. Up, the
    /// child's own subtree; and everything when the parent lost its state, since it
    /// also lost what it broadcast (it takes those back, see [`Self::sync_refusal`]).
    /// Each side syncs only what the other takes: no refusal per document.
    pub fn on_docs(&mut self, docs: Vec<DocId>, routes: &Routes) {
        let subtree = routes.subtree();
        let shared = docs.into_iter().filter(|doc| match self.peer_is {
            PeerIs::Child => routes.shares_down(doc, &self.peer),
            PeerIs::Parent => self.peer_lost || subtree.contains(&doc.owner),
        });
        self.repair.queue(shared);
    }

    /// Documents this node quarantined (their stored bytes could not be read; see
    /// [`crate::replica::Effect::Quarantined`]), at the session's start from
    /// [`crate::replica::quarantined`] and as the engine reports them: those the peer
    /// shares and takes a sync of are synced with it, which brings back what was lost.
    /// Down, what the link shares with the child; up, this node's subtree (a parent
    /// refuses a child's sync of a broadcast, which the parent's own session repairs
    /// when the parent quarantines it).
    pub fn on_quarantined(&mut self, docs: impl IntoIterator<Item = DocId>, routes: &Routes) {
        let subtree = routes.subtree();
        for doc in docs {
            let shared = match self.peer_is {
                PeerIs::Child => routes.shares_down(&doc, &self.peer),
                PeerIs::Parent => subtree.contains(&doc.owner),
            };
            if shared {
                self.repair.sync_soon(doc);
            }
        }
    }

    /// Why this node would not take a sync message on `doc` from its peer, if it would
    /// not: a child's messages on its own subtree are taken, and on what this node
    /// shares down to it only while this node lost its state (the child gives back
    /// the broadcasts). A parent's are always taken.
    fn sync_refusal(&self, routes: &Routes, doc: &DocId) -> Option<String> {
        let refused = refusal(self.peer_is, &self.peer, routes, doc)?;
        let restores = self.peer_is == PeerIs::Child && self.i_lost && routes.shares_down(doc, &self.peer);
        (!restores).then_some(refused)
    }

    pub fn progress(&self) -> Progress {
        Progress {
            sent_through: self.send.announced(),
            acked_through: self.send.acked(),
            applied_through: self.receive.applied_through(),
            peer_log_end: self.receive.peer_log_end(),
            durable_above: match self.peer_is {
                PeerIs::Parent => self.above.clone(),
                PeerIs::Child => Vec::new(),
            },
            in_flight: self.send.in_flight(),
            repair: self.repair.running(),
        }
    }

    /// Whether a batch of the peer's is with the engine: no frame of the peer may be
    /// handed in until [`Session::on_applied`].
    pub fn applying(&self) -> bool {
        self.receive.applying()
    }

    /// Nothing of this node's is unacknowledged and nothing of the peer's is being
    /// applied.
    pub fn idle(&self) -> bool {
        self.send.in_flight() == 0 && !self.receive.applying()
    }
}

/// Why this node would not take changes to `doc` from its peer, if it would not.
fn refusal(peer_is: PeerIs, peer: &NodeId, routes: &Routes, doc: &DocId) -> Option<String> {
    match peer_is {
        PeerIs::Child => routes.refuses_from_child(peer, doc),
        PeerIs::Parent => None,
    }
}
