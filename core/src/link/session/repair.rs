//! The repair path of a session: Automerge's sync protocol on every document the link
//! shares, started a few documents at a time so that the stream never floods.

use super::Action;
use crate::ids::DocId;
use crate::link::limits::REPAIR_OUTBOX_LOW;
use std::collections::VecDeque;

pub(super) struct Repair {
    running: bool,
    /// Documents whose sync has not started yet.
    waiting: VecDeque<DocId>,
}

impl Repair {
    pub fn new(running: bool) -> Self {
        Self { running, waiting: VecDeque::new() }
    }

    pub fn running(&self) -> bool {
        self.running
    }

    pub fn queue(&mut self, docs: impl Iterator<Item = DocId>) {
        let before = self.waiting.len();
        self.waiting.extend(docs);
        tracing::info!(docs = self.waiting.len() - before, "repair: syncing shared documents");
    }

    /// Starts one more document's sync while the link's backlog is small.
    pub fn poll(&mut self, backlog: usize) -> Option<Action> {
        if backlog >= REPAIR_OUTBOX_LOW {
            return None;
        }
        self.waiting.pop_front().map(|doc| Action::Sync { doc, message: None })
    }
}
