//! A receiving link [`Session`] driven by a peer's frames: the input is a script.
//!
//! The street (this node) starts a session with one of its communities (a child) or
//! with its district (its parent), within bounds and from Hellos the first bytes
//! describe: logs of any length, trimmed or not, checkpoints that hold, name another
//! log or point past its end. Each further step is a frame from the peer (a log batch, an `Ack`, a sync
//! message, a `Refusal`, a second Hello) or the runtime's turn (its log grows, time
//! passes, it polls, it quarantines documents). The harness answers every action as
//! `linli-node`'s pump does: it reads the street's log, answers an `Apply` at once
//! (taken, refused, waiting, or to retry) and a sync step with a reply or a refusal.
//!
//! The session is where a peer's sequence numbers meet this node's durable
//! checkpoints, so besides "never panic" the harness checks what must hold whatever
//! the peer sends ([`checks`]): what is applied never goes back, an `Apply` comes only
//! when the session waits for its answer and is acknowledged once answered, a child's
//! documents outside its subtree never reach the engine, and what the street sends is
//! its own log in order, as the routes allow, within the window.

mod checks;

use crate::fixtures::{self, COMMUNITY, DISTRICT, NOW_MS, STREET, log_id, street_entry};
use crate::reader::Reader;
use linli_core::Error;
use linli_core::ids::DocId;
use linli_core::link::limits::ENTRY_OVERHEAD_BYTES;
use linli_core::link::{self, Action, Checkpoint, Frame, Hello, LinkLimits, PeerIs, Routes, Session, Tier};
use linli_core::store::LogEntry;
use std::collections::VecDeque;

/// Steps of one script: enough to fill the window and refill it, few enough to keep
/// an iteration fast.
const STEPS_MAX: usize = 64;

/// Runs `data` as a script against a receiving session; panics only on a bug.
pub fn session_batch(data: &[u8]) {
    let mut input = Reader::new(data);
    let Some(mut link) = Link::start(&mut input) else { return };
    for _ in 0..STEPS_MAX {
        if input.is_empty() || link.step(&mut input).is_err() {
            break;
        }
    }
}

/// The session ended: the peer broke the protocol, the engine asked for a retry, or
/// the log must be renewed. The runtime would reconnect; the script is over.
struct Ended;

/// One side of the link, as the runtime around a session sees it.
pub(crate) struct Link {
    session: Session,
    routes: Routes,
    peer_log_id: String,
    /// This node's log: its end (growing as the script says) and what was trimmed.
    log_end: u64,
    log_trimmed: u64,
    now_ms: u64,
    /// What the checks remember between steps.
    seen: checks::Seen,
}

/// A sequence number: small mostly, so entries line up with the session's; any
/// value when the byte says so, for the edges of the range.
fn seq(input: &mut Reader) -> u64 {
    match input.byte() {
        u8::MAX => input.u64(),
        small => u64::from(small),
    }
}

/// A step between sequence numbers: 0 to 3 (0 repeats one, which a session refuses),
/// or any value.
fn step(input: &mut Reader) -> u64 {
    match input.byte() {
        u8::MAX => input.u64(),
        small => u64::from(small % 4),
    }
}

/// The link's bounds: the defaults, or small ones (a window of 1 to 4 batches of 1 to
/// 8 entries, maybe one entry per batch by bytes), so that a short script reaches a
/// full window and cut batches.
fn limits(byte: u8) -> LinkLimits {
    let defaults = LinkLimits::default();
    if byte & 0x80 != 0 {
        return defaults;
    }
    LinkLimits {
        batch_entries_max: 1 + usize::from(byte & 7),
        window_batches_max: 1 + usize::from((byte >> 3) & 3),
        batch_bytes_max: if byte & 0x20 != 0 { ENTRY_OVERHEAD_BYTES + 1 } else { defaults.batch_bytes_max },
        ..defaults
    }
}

fn pick_doc(input: &mut Reader) -> DocId {
    let docs = fixtures::docs();
    docs[input.below(docs.len())].clone()
}

impl Link {
    fn start(input: &mut Reader) -> Option<Self> {
        let flags = input.byte();
        let (peer_is, peer, tier) = match flags & 1 {
            0 => (PeerIs::Child, COMMUNITY, Tier::Community),
            _ => (PeerIs::Parent, DISTRICT, Tier::District),
        };
        let limits = limits(input.byte());
        let log_end = seq(input);
        let log_trimmed = seq(input).min(log_end);
        let their_end = seq(input);
        let their_trimmed = seq(input).min(their_end);
        let my_checkpoint = (flags & 2 != 0).then(|| Checkpoint {
            log_id: if flags & 4 != 0 { log_id(peer) } else { "gone.1".into() },
            through: seq(input),
            fingerprint: u64::from(input.byte()),
        });
        let their_checkpoint = (flags & 8 != 0).then(|| {
            let through = seq(input);
            // The fingerprint of the entry it names, as a peer that saw it sends it.
            let fingerprint = match flags & 16 {
                0 => u64::from(input.byte()),
                _ => street_entry(through).fingerprint(),
            };
            let log_id = if flags & 32 != 0 { log_id(STREET) } else { format!("{STREET}.0") };
            Checkpoint { log_id, through, fingerprint }
        });
        let mine = Hello { log_trimmed, ..fixtures::hello(STREET, Tier::Street, log_end, my_checkpoint) };
        let theirs = Hello { log_trimmed: their_trimmed, ..fixtures::hello(peer, tier, their_end, their_checkpoint) };
        // The runtime reads the entry the peer's checkpoint names, if the log holds it.
        let named = link::named_seq(&mine, &theirs).filter(|&seq| seq <= log_end).map(street_entry);
        let (session, actions) = Session::start(&mine, &theirs, named.as_ref(), peer_is, limits, NOW_MS);
        let seen = checks::Seen::new(&session);
        let mut link = Self {
            session,
            routes: fixtures::street(),
            peer_log_id: theirs.log_id,
            log_end,
            log_trimmed,
            now_ms: NOW_MS,
            seen,
        };
        link.run(actions, input).ok()?;
        Some(link)
    }

    /// One step of the script, then the checks.
    fn step(&mut self, input: &mut Reader) -> Result<(), Ended> {
        match input.below(7) {
            0 => self.hand_in(batch(input, self.session.progress().applied_through), input)?,
            1 => {
                let progress = self.session.progress();
                let through = match input.below(3) {
                    0 => progress.sent_through,
                    1 => progress.acked_through,
                    _ => seq(input),
                };
                self.hand_in(Frame::Ack { through, above: Vec::new() }, input)?;
            }
            2 => {
                let doc = pick_doc(input);
                self.hand_in(Frame::Sync { doc, message: input.sized().to_vec() }, input)?;
            }
            3 => {
                let seq = seq(input);
                let len = input.below(48);
                let doc = String::from_utf8_lossy(input.take(len)).into_owned();
                self.hand_in(Frame::Refusal { seq, doc, reason: "not yours".into() }, input)?;
            }
            4 => {
                let again = fixtures::hello(DISTRICT, Tier::District, 0, None);
                assert!(self.session.on_frame(Frame::Hello(again), &self.routes).is_err(), "a second Hello was taken");
                return Err(Ended);
            }
            5 => self.turn(input)?,
            _ => {
                let mask = input.byte();
                let docs = fixtures::docs().iter().cloned().enumerate().filter(|(i, _)| mask & (1 << i) != 0);
                self.session.on_quarantined(docs.map(|(_, doc)| doc), &self.routes);
            }
        }
        checks::after_step(self);
        Ok(())
    }

    /// A frame of the peer's, handed in as the pump does; an error ends the session.
    fn hand_in(&mut self, frame: Frame, input: &mut Reader) -> Result<(), Ended> {
        let actions = self.session.on_frame(frame, &self.routes).map_err(|_| Ended)?;
        self.run(actions, input)
    }

    /// The runtime's turn: its log grows, time passes (to the session's deadline, if
    /// the script says so), and it polls until the session has nothing to do.
    fn turn(&mut self, input: &mut Reader) -> Result<(), Ended> {
        self.log_end = self.log_end.saturating_add(u64::from(input.byte()));
        self.now_ms = self.now_ms.saturating_add(u64::from(input.byte()) * 100);
        if input.byte() & 1 != 0 {
            self.now_ms = self.now_ms.max(self.session.deadline_ms().unwrap_or(0));
        }
        let backlog = input.below(32);
        for _ in 0..checks::POLLS_MAX {
            match self.session.poll(self.log_end, backlog, self.now_ms) {
                Some(action) => self.run(vec![action], input)?,
                None => return Ok(()),
            }
        }
        panic!("the session never stops asking: {} polls", checks::POLLS_MAX);
    }

    /// Carries out `actions` and those their answers bring, in order.
    fn run(&mut self, actions: Vec<Action>, input: &mut Reader) -> Result<(), Ended> {
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Send(frame) => checks::sent(self, &frame),
                Action::ReadLog { after, entries_max } => {
                    let entries = self.read_log(after, entries_max);
                    queue.extend(self.session.on_log(entries, &self.routes, self.now_ms));
                }
                Action::Apply { docs, checkpoint, .. } => queue.extend(self.apply(docs, checkpoint, input)?),
                Action::Sync { doc, .. } => {
                    let answer = input.byte();
                    let reply = (answer & 1 != 0).then(|| vec![answer]);
                    let refused = (answer & 2 != 0).then(|| "the message does not decode".to_string());
                    queue.extend(self.session.on_synced(doc, reply, refused));
                }
                Action::ListDocs => self.session.on_docs(fixtures::docs().to_vec(), &self.routes),
                Action::PeerRefused { .. } => {}
                Action::RenewLog { .. } => return Err(Ended),
            }
        }
        Ok(())
    }

    /// This node's log after `after`, as a store reads it: never a trimmed entry.
    fn read_log(&self, after: u64, entries_max: usize) -> Vec<LogEntry> {
        assert!(after >= self.log_trimmed, "the session reads entry {after}, trimmed through {}", self.log_trimmed);
        let count = self.log_end.saturating_sub(after).min(entries_max as u64);
        (1..=count).map(|i| street_entry(after + i)).collect()
    }

    /// The engine's answer to a batch, as the script says: taken, one document
    /// refused for good, every document waiting, or one failed for now (the session
    /// then ends, to resend from the checkpoint).
    fn apply(
        &mut self,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        checkpoint: Checkpoint,
        input: &mut Reader,
    ) -> Result<Vec<Action>, Ended> {
        checks::apply_asked(self, &docs, &checkpoint);
        let answer = input.byte();
        let first = docs.first().map(|(doc, _)| doc.clone());
        let failed = match (answer & 3, first) {
            (1, Some(doc)) => vec![(doc, Error::Corrupt { what: "change", key: "fuzz".into(), reason: "bad".into() })],
            (2, Some(doc)) => vec![(doc, Error::Storage { op: "read".into(), source: "disk".into() })],
            _ => Vec::new(),
        };
        let retry = failed.iter().any(|(_, e)| e.may_pass());
        let waiting = match answer & 4 {
            0 => Vec::new(),
            _ => docs.iter().map(|(doc, _)| doc.clone()).collect(),
        };
        let answered = self.session.on_applied(failed, waiting);
        checks::apply_answered(self, &checkpoint, retry, answered.as_ref().ok());
        answered.map_err(|_| Ended)
    }
}

/// A log batch of the peer's, after what this node applied: entries in order mostly,
/// out of order or past `through` when the steps say so.
fn batch(input: &mut Reader, applied_through: u64) -> Frame {
    let mut seq = applied_through;
    let count = input.below(6);
    let entries = (0..count)
        .map(|_| {
            seq = seq.wrapping_add(step(input));
            let doc = pick_doc(input);
            let changes = (0..input.below(3)).map(|_| input.sized().to_vec()).collect();
            LogEntry { seq, doc, origin: None, changes, traces: Vec::new() }
        })
        .collect();
    let through = seq.wrapping_add(step(input));
    Frame::Batch { entries, through, fingerprint: u64::from(input.byte()) }
}
