//! The repair path of a session: Automerge's sync protocol on every document the link
//! shares, started a few documents at a time so that the stream never floods.

use super::Action;
use crate::ids::DocId;
use crate::link::limits::REPAIR_OUTBOX_LOW;
use std::collections::{HashSet, VecDeque};

pub(super) struct Repair {
    running: bool,
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
        Self { running, waiting: VecDeque::new(), soon: HashSet::new(), started: HashSet::new() }
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
        tracing::info!(docs = self.waiting.len() - before, "repair: syncing shared documents");
    }

    /// Starts one more document's sync while the link's backlog is small. Every start
    /// is a new conversation, even on a document synced before in this session: a
    /// document whose changes wait for their dependencies again needs one.
    pub fn poll(&mut self, backlog: usize) -> Option<Action> {
        if backlog >= REPAIR_OUTBOX_LOW {
            return None;
        }
        let doc = self.waiting.pop_front()?;
        self.soon.remove(&doc);
        self.started.insert(doc.clone());
        Some(Action::Sync { doc, message: None, actors_refused: Default::default() })
    }

    /// Whether the peer's message on `doc` is the first of this session on it, for
    /// either side: the engine's protocol state for the peer must then start over
    /// (see [`super::Session::on_frame`]).
    pub fn first_message(&mut self, doc: &DocId) -> bool {
        self.started.insert(doc.clone())
    }
}
