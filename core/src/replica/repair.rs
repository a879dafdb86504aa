//! Repair: Automerge's sync protocol with a peer, one document and one message at a
//! time. The protocol's state per peer and document lives in memory, bounded by
//! [`SYNC_STATES_MAX`]; losing it costs only a few more messages, never a change.

use super::merge::Merged;
use super::{Effect, Replica};
use crate::ids::{DocId, NodeId};
use crate::store::{Storage, StoreBatch};
use crate::views::Dirty;
use std::collections::BTreeSet;

/// Sync protocol states kept at most; past it they are all dropped and the
/// documents in repair start over (correct, only a few more messages).
pub const SYNC_STATES_MAX: usize = 4096;

impl Replica {
    pub(super) fn sync(
        &mut self,
        store: &dyn Storage,
        peer: NodeId,
        actors_refused: &BTreeSet<String>,
        doc_id: DocId,
        message: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let time_ms_max = self.time_ms_max(now_ms);
        let mut batch = StoreBatch::default();
        let mut dirty = Dirty::default();
        if self.sync_states.len() >= SYNC_STATES_MAX {
            self.sync_states.clear();
        }
        let key = (peer.clone(), doc_id.clone());
        let mut state = match message {
            Some(_) => self.sync_states.remove(&key).unwrap_or_default(),
            None => automerge::sync::State::new(),
        };
        let result = match &message {
            Some(bytes) => {
                let state = &mut state;
                self.merge(store, &doc_id, &peer, actors_refused, &mut batch, &mut dirty, Merged::default(), |doc| {
                    doc.receive_sync(state, bytes, time_ms_max)
                })
            }
            None => self.cached_mut(store, &doc_id, true).map(|_| 0),
        };
        let generated = match (&result, self.docs.get_mut(&doc_id)) {
            (Ok(_), Some(cached)) => Some(cached.doc.generate_sync(&mut state)),
            _ => None,
        };
        let (reply, result) = match (result, generated) {
            (Ok(count), Some(Ok(reply))) => (reply, Ok(count)),
            // The peer's message left a state Automerge cannot answer from (it panicked
            // on it): the protocol starts over with this peer on this document, which
            // reloads from the store once this batch is in it.
            (Ok(_), Some(Err(e))) => {
                state = automerge::sync::State::new();
                self.docs.remove(&doc_id);
                (None, Err(e))
            }
            (result, _) => (None, result),
        };
        // Nothing more to send after the peer's message, nothing waiting: this
        // document holds what the peer holds.
        let converged = message.is_some() && result.is_ok() && reply.is_none();
        if converged && self.docs.get_mut(&doc_id).is_some_and(|c| c.waiting.is_empty() && !c.pinned) {
            self.repaired(&doc_id, &mut batch);
        }
        self.sync_states.insert(key, state);
        self.note_waiting(&mut batch);
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch), Effect::Sync { peer, doc: doc_id, reply, result }]
    }
}
