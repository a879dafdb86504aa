//! Quarantine: a document whose stored bytes Automerge cannot read is loaded as far
//! as it reads ([`RegistryDoc::salvage`]) instead of failing every later write, peer's
//! change and read of it; the link's repair brings back what was lost.
//!
//! - **Durable in one batch.** The next batch replaces the corrupt state: a snapshot
//!   of what loaded, covering every chunk of the document so far (so a restart does
//!   not meet the corruption again), the changes that wait for what was lost (as
//!   peers' waiting changes, `waiting/<doc>`), and the document in the index of
//!   documents to repair (meta [`INDEX_META`]). Its parts go first in that batch: a
//!   snapshot the same step takes later (compaction) covers more, and wins.
//! - **Views recounted.** The corrupt document's old rows cannot be read, so nothing
//!   can be subtracted: the views are recounted from every document as the step leaves
//!   them (cached ones from memory, the rest from the store, quarantining any other
//!   that does not read) and replace the stored ones wholesale, in the same batch.
//!   Costly (every document in memory at once, as [`Replica::recount`]) but rare.
//! - **Repaired from peers.** [`Effect::Quarantined`] names the documents, and a
//!   peer's changes to one answer `waiting` in [`Effect::Applied`]: the link's session
//!   syncs it with the peers that share it. The index is durable, so a restart before
//!   the repair still repairs (each session starts with [`quarantined`]). A document
//!   leaves the index when a sync with a peer ends with nothing more to exchange.

use super::{Effect, Replica, cache::CachedDoc, waiting};
use crate::doc::{RegistryDoc, Salvaged, StoredChunk};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::schema::Schema;
use crate::store::{Snapshot, Storage, StoreBatch, StoredDoc};
use crate::views::{ViewWrite, Views};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The meta key listing the documents quarantined and not repaired yet.
pub const INDEX_META: &str = "quarantined";

/// The documents quarantined and not repaired yet, as stored: for the runtime to hand
/// to each link session as it starts. An index that does not read counts as empty:
/// the documents it named are whole on disk since their quarantine, only their
/// repair is skipped.
pub fn quarantined(store: &dyn Storage) -> Result<BTreeSet<DocId>> {
    Ok(match store.meta(INDEX_META)? {
        Some(bytes) => waiting::decode_index(&bytes).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the index of quarantined documents cannot be read; their repair is skipped");
            BTreeSet::new()
        }),
        None => BTreeSet::new(),
    })
}

/// What quarantines found that is not persisted yet.
#[derive(Default)]
pub(super) struct Pending {
    /// Snapshots and meta for the next batch, before its own parts.
    pub batch: StoreBatch,
    /// The views must be recounted before the next batch.
    pub recount_due: bool,
    /// Documents quarantined since the last [`Effect::Quarantined`].
    pub found: Vec<DocId>,
}

impl Replica {
    /// Loads a document whose stored bytes did not load (`cause`) as far as it reads,
    /// and queues what makes that durable (see the module's docs).
    pub(super) fn quarantine(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        schema: Arc<Schema>,
        stored: &StoredDoc,
        cause: &Error,
    ) -> Result<CachedDoc> {
        let salvaged = self.salvage(store, doc_id, schema, stored)?;
        let Salvaged { mut doc, snapshot_lost, chunks_lost, from_log } = salvaged;
        let earlier = self.requeue(store, &mut doc)?;
        // Changes of chunks that loaded but wait for a lost one: Automerge queues them
        // in memory; kept durable as waiting changes, a repair's sync releases them.
        let loaded: Vec<Vec<u8>> = stored
            .chunks
            .iter()
            .filter(|(seq, _)| !chunks_lost.contains(seq))
            .filter_map(|(seq, _)| log_copy(store, doc_id, *seq))
            .flatten()
            .collect();
        let mut still = waiting::still_waiting(&mut doc, &earlier, &loaded);
        if still.iter().map(Vec::len).sum::<usize>() > waiting::WAITING_BYTES_MAX {
            // Past the bound they are left to the repair, which brings them whole.
            still = waiting::still_waiting(&mut doc, &earlier, &[]);
        }
        let stored_seq = stored.chunks.last().map(|(s, _)| *s).or(stored.snapshot.as_ref().map(|(s, _)| *s));
        let through = self.next_seq.saturating_sub(1).max(stored_seq.unwrap_or(0));
        let bytes = doc.save();
        let mut batch = std::mem::take(&mut self.quarantine.batch);
        batch.snapshots.push(Snapshot { doc: doc_id.clone(), through_seq: through, bytes });
        if still != earlier {
            let name = waiting::meta_name(doc_id);
            match still.is_empty() {
                true => batch.meta_deleted.push(name),
                false => batch.meta.push((name, waiting::encode(&still))),
            }
        }
        self.note_waiting(&mut batch);
        self.quarantined.insert(doc_id.clone());
        batch.meta.push((INDEX_META.to_string(), waiting::encode_index(&self.quarantined)));
        self.quarantine.batch = batch;
        self.quarantine.recount_due = true;
        self.quarantine.found.push(doc_id.clone());
        tracing::warn!(
            node = %self.config.node, doc = %doc_id, cause = %cause, snapshot_lost, chunks_lost = ?chunks_lost,
            chunks_from_log = ?from_log, waiting = still.len(),
            "document cannot be read: quarantined, kept as far as it reads, to be repaired from its peers"
        );
        let mut cached = CachedDoc::new(doc, 0, through);
        cached.waiting = still;
        Ok(cached)
    }

    /// What loads of a stored document, with each chunk's log entry as its second copy.
    pub(super) fn salvage(
        &self,
        store: &dyn Storage,
        doc_id: &DocId,
        schema: Arc<Schema>,
        stored: &StoredDoc,
    ) -> Result<Salvaged> {
        let actor = self.actor_for(doc_id, true);
        let copies: Vec<Option<Vec<Vec<u8>>>> =
            stored.chunks.iter().map(|(seq, _)| log_copy(store, doc_id, *seq)).collect();
        let chunks: Vec<StoredChunk<'_>> = stored
            .chunks
            .iter()
            .zip(&copies)
            .map(|((seq, bytes), copy)| StoredChunk { seq: *seq, bytes, log_copy: copy.as_deref() })
            .collect();
        let snapshot = stored.snapshot.as_ref().map(|(_, s)| s.as_slice());
        RegistryDoc::salvage(doc_id.clone(), schema, &actor, snapshot, &chunks)
    }

    /// The Automerge actor that writes `doc`: this start's, or while the document is
    /// quarantined (`quarantined`), an actor of its own. The changes it lost may be
    /// this start's (a chunk written since the start, evicted, torn), and Automerge
    /// would number the next one as the lost one, which every peer refuses as a
    /// duplicate. Once repaired, the document holds them again.
    pub(super) fn actor_for(&self, doc: &DocId, quarantined: bool) -> String {
        match quarantined || self.quarantined.contains(doc) {
            true => format!("{}.q", self.actor),
            false => self.actor.clone(),
        }
    }

    /// Recounts the views if a quarantine left them stale: every document as it is
    /// now, loaded into the cache (each that does not read is quarantined too). The
    /// writes replace the stored views wholesale; `self.views` is the recount.
    pub(super) fn settle(&mut self, store: &dyn Storage) -> Result<Vec<ViewWrite>> {
        if !self.quarantine.recount_due {
            return Ok(Vec::new());
        }
        let ids: Vec<DocId> = self.known_docs.iter().cloned().collect();
        for id in &ids {
            self.cached_mut(store, id, false)?;
        }
        let docs = &self.docs;
        let recount = Views::rebuild(ids.iter().filter_map(|id| docs.peek(id)).flat_map(|cached| {
            let (schema, doc) = (cached.doc.schema().as_ref(), &cached.doc);
            doc.rows().iter().map(move |(record, row)| (schema, doc.id(), record.as_str(), row))
        }));
        let writes = self.views.writes_to(&recount);
        self.views = recount;
        self.quarantine.recount_due = false;
        Ok(writes)
    }

    /// After a read that quarantined: the views recounted now, their writes with the
    /// next batch (before its own, which are newer).
    pub(super) fn settle_after_read(&mut self, store: &dyn Storage) -> Result<()> {
        let writes = self.settle(store)?;
        self.views_rewrite.extend(writes);
        Ok(())
    }

    /// After a step: what its quarantines found goes into its batch (a recount of the
    /// views after the step's own view writes), and [`Effect::Quarantined`] names them.
    pub(super) fn finish_quarantine(&mut self, store: &dyn Storage, effects: &mut Vec<Effect>) {
        let q = &self.quarantine;
        if !q.recount_due && q.batch.is_empty() && q.found.is_empty() && self.views_rewrite.is_empty() {
            return;
        }
        let views = self.settle(store).unwrap_or_else(|e| {
            // The views stay as they are until a later step's recount succeeds.
            tracing::error!(node = %self.config.node, error = %e, "views cannot be recounted after a quarantine");
            Vec::new()
        });
        if !effects.iter().any(|e| matches!(e, Effect::Persist(_))) {
            effects.insert(0, Effect::Persist(StoreBatch::default()));
        }
        if let Some(Effect::Persist(batch)) = effects.iter_mut().find(|e| matches!(e, Effect::Persist(_))) {
            // Whatever the step's handler did not seal in yet (every handler seals last,
            // so only a step that persisted nothing of its own).
            self.seal(batch);
            batch.views.extend(views);
        }
        let found = std::mem::take(&mut self.quarantine.found);
        if !found.is_empty() {
            effects.push(Effect::Quarantined { docs: found });
        }
    }

    /// A sync with a peer on a quarantined document ended with nothing more to
    /// exchange, and nothing waits in it: it holds what the peer holds, and leaves
    /// the index in `batch`.
    pub(super) fn repaired(&mut self, doc_id: &DocId, batch: &mut StoreBatch) {
        if self.quarantined.remove(doc_id) {
            tracing::info!(node = %self.config.node, doc = %doc_id, "quarantined document repaired from a peer");
            batch.meta.push((INDEX_META.to_string(), waiting::encode_index(&self.quarantined)));
        }
    }
}

/// The changes of the log entry `seq`, if it reads and is of `doc`: a chunk's second copy.
fn log_copy(store: &dyn Storage, doc: &DocId, seq: u64) -> Option<Vec<Vec<u8>>> {
    let entry = store.log_after(seq.saturating_sub(1), 1).ok()?.into_iter().next()?;
    (entry.seq == seq && entry.doc == *doc).then_some(entry.changes)
}
