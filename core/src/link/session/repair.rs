//! The repair path of a session: Automerge's sync protocol on every document the link
//! shares, started a few documents at a time so that the stream never floods.

use super::Action;
use crate::ids::DocId;
use crate::link::limits::REPAIR_OUTBOX_LOW;
use std::collections::{HashSet, VecDeque};

/// A repair is finished once every shared document's sync has started and no sync
/// message came or went for this long: said once per session, in the log. (A sync
/// conversation has no last message that both ends see, so quiet is the sign.)
pub const REPAIR_QUIET_MS: u64 = 2_000;

pub(super) struct Repair {
    running: bool,
    /// Whether the shared documents were listed (and queued): before, nothing is done.
    listed: bool,
    /// Sync messages in either direction and starts, counted; and the count and time
    /// the last [`Self::poll`] saw.
    activity: u64,
    seen: (u64, u64),
    /// Whether "repair finished" was said.
    finished: bool,
    /// Documents whose sync has not started yet.
    waiting: VecDeque<DocId>,
    /// Documents queued by [`Self::sync_soon`] and not started yet: each once.
    soon: HashSet<DocId>,
    /// Documents whose sync this session started over (from either side): the
    /// protocol's state for the peer is fresh for them. At most the documents the
    /// node holds.
    started: HashSet<DocId>,
}

impl Repair {
    pub fn new(running: bool) -> Self {
        Self {
            running,
            listed: false,
            activity: 0,
            seen: (0, 0),
            finished: false,
            waiting: VecDeque::new(),
            soon: HashSet::new(),
            started: HashSet::new(),
        }
    }

    /// Syncs one document (its changes wait for dependencies the peer holds, or it was
    /// quarantined), unless it is already queued.
    pub fn sync_soon(&mut self, doc: DocId) {
        if self.soon.insert(doc.clone()) {
            tracing::debug!(%doc, "sync soon: waiting changes or a quarantine");
            self.waiting.push_back(doc);
        }
    }

    pub fn running(&self) -> bool {
        self.running
    }

    pub fn queue(&mut self, docs: impl Iterator<Item = DocId>) {
        let before = self.waiting.len();
        self.waiting.extend(docs);
        self.listed = true;
        self.activity += 1;
        tracing::info!(docs = self.waiting.len() - before, "repair started: syncing shared documents");
    }

    /// A sync message came or went.
    pub fn note_sync(&mut self) {
        self.activity += 1;
    }

    /// When the repair may be finished, if nothing more happens.
    pub fn deadline_ms(&self) -> Option<u64> {
        let pending = self.running && self.listed && !self.finished && self.waiting.is_empty();
        pending.then_some(self.seen.1.saturating_add(REPAIR_QUIET_MS))
    }

    /// Says "repair finished" once, when every document's sync started and the link
    /// has been quiet for [`REPAIR_QUIET_MS`].
    fn check_finished(&mut self, now_ms: u64) {
        if self.activity != self.seen.0 {
            self.seen = (self.activity, now_ms);
            return;
        }
        if self.deadline_ms().is_some_and(|at| now_ms >= at) {
            self.finished = true;
            tracing::info!(docs = self.started.len(), "repair finished: every shared document synced");
        }
    }

    /// Starts one more document's sync while the link's backlog is small. Every start
    /// is a new conversation, even on a document synced before in this session: a
    /// document whose changes wait for their dependencies again needs one.
    pub fn poll(&mut self, backlog: usize, now_ms: u64) -> Option<Action> {
        self.check_finished(now_ms);
        if backlog >= REPAIR_OUTBOX_LOW {
            return None;
        }
        let doc = self.waiting.pop_front()?;
        self.activity += 1;
        self.soon.remove(&doc);
        self.started.insert(doc.clone());
        Some(Action::Sync { doc, message: None, actors_refused: Default::default() })
    }

    /// Whether the peer's message on `doc` is the first of this session on it, for
    /// either side: the engine's protocol state for the peer must then start over
    /// (see [`super::Session::on_frame`]).
    pub fn first_message(&mut self, doc: &DocId) -> bool {
        self.activity += 1;
        self.started.insert(doc.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: u8) -> DocId {
        DocId::new("lg-pingdi-pingdi", "requests", &format!("2026-{n:02}")).unwrap()
    }

    #[test]
    fn a_repair_finishes_once_every_sync_started_and_the_link_is_quiet() {
        let mut repair = Repair::new(true);
        assert_eq!(repair.deadline_ms(), None, "nothing listed yet");
        repair.queue([doc(1), doc(2)].into_iter());
        assert!(matches!(repair.poll(0, 1_000), Some(Action::Sync { .. })));
        assert!(matches!(repair.poll(0, 1_100), Some(Action::Sync { .. })));
        assert_eq!(repair.poll(0, 1_200), None);
        let quiet_from = 1_200;
        assert_eq!(repair.deadline_ms(), Some(quiet_from + REPAIR_QUIET_MS));
        // A message before the deadline starts the quiet over.
        repair.note_sync();
        repair.poll(0, 2_000);
        assert!(!repair.finished);
        assert_eq!(repair.deadline_ms(), Some(2_000 + REPAIR_QUIET_MS));
        repair.poll(0, 2_000 + REPAIR_QUIET_MS);
        assert!(repair.finished);
        assert_eq!(repair.deadline_ms(), None, "said once");
    }

    #[test]
    fn a_session_that_does_not_repair_never_says_it_finished() {
        let mut repair = Repair::new(false);
        repair.queue(std::iter::empty());
        repair.poll(0, 0);
        repair.poll(0, 100_000);
        assert!(!repair.finished);
        assert_eq!(repair.deadline_ms(), None);
    }
}
