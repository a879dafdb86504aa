//! Changes from peers: merged into their documents (loaded, or created when new here),
//! only the new ones logged, with their origin, and the views moved by what the merge
//! changed. A link's checkpoint rides in the same batch, unless some document holds
//! changes waiting for their dependencies: those are in memory only, so the
//! checkpoint stays behind them and the peer sends them again after a crash. Nor does
//! it ride when a document failed for a reason that may pass (a store read error, a
//! registry this node does not know yet): the peer sends those changes again, where a
//! checkpoint past them would have skipped them for good.

use super::{Effect, Replica};
use crate::doc::RegistryDoc;
use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::ids::{DocId, NodeId};
use crate::store::{Storage, StoreBatch};
use crate::views::Dirty;

impl Replica {
    pub(super) fn changes(
        &mut self,
        store: &dyn Storage,
        origin: NodeId,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Vec<Effect> {
        let mut batch = StoreBatch { meta, ..StoreBatch::default() };
        let mut dirty = Dirty::default();
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut retry = false;
        for (doc_id, changes) in docs {
            let result = self.apply_changes(store, &doc_id, &origin, &changes, &mut batch, &mut dirty);
            retry |= result.as_ref().is_err_and(Error::may_pass);
            outcomes.push(Effect::Applied { doc: doc_id, result });
        }
        if retry || self.docs.any_waiting() {
            // Changes failed for now, or wait in memory for their dependencies: a
            // checkpoint past them would skip them, or lose them in a crash. The peer
            // resends from the old one instead (what did apply is a duplicate then).
            batch.meta.clear();
        }
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        let mut effects = vec![Effect::Persist(batch)];
        effects.extend(outcomes);
        effects
    }

    fn apply_changes(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        origin: &NodeId,
        changes: &[Vec<u8>],
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Result<usize> {
        self.merge(store, doc_id, origin, batch, dirty, |doc| doc.apply_remote(changes))
    }

    /// Merges a peer's changes into a document (loading or creating it), logs the new
    /// ones with their origin and moves the views.
    pub(super) fn merge(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        origin: &NodeId,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
        merge: impl FnOnce(&mut RegistryDoc) -> Result<crate::doc::RemoteApplied>,
    ) -> Result<usize> {
        self.registries.get(&doc_id.registry)?;
        let cached = self
            .cached_mut(store, doc_id, true)?
            .ok_or_else(|| Error::RecordNotFound { record: doc_id.to_string() })?;
        let applied = match merge(&mut cached.doc) {
            Ok(applied) => {
                cached.waiting = cached.doc.has_waiting_changes();
                applied
            }
            Err(e) => {
                // Automerge may have applied part of the batch: drop the document so the
                // next use reloads it from the store, which holds only whole batches.
                self.docs.remove(doc_id);
                return Err(e);
            }
        };
        let count = applied.changes.len();
        if count > 0 {
            self.log_changes(doc_id, Some(origin.clone()), applied.changes, batch, dirty);
            self.clock.observe(Hlc::from_parts(u64::try_from(applied.time_max_ms).unwrap_or(0), 0));
        }
        Ok(count)
    }
}
