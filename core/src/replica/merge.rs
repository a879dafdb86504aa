//! Changes from peers: merged into their documents (loaded, or created when new here),
//! only the new ones logged, with their origin, and the views moved by what the merge
//! changed. Changes that wait for their dependencies are stored with the batch (see
//! [`super::waiting`]), so a link's checkpoint rides in the same batch: everything it
//! passes is durable. It does not ride when a document failed for a reason that may
//! pass (a store read error, a registry this node does not know yet): the peer sends
//! those changes again, where a checkpoint past them would have skipped them for good.

use super::{Effect, Replica, waiting};
use crate::doc::RegistryDoc;
use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::ids::{DocId, NodeId};
use crate::store::{Storage, StoreBatch};
use crate::trace::TraceContext;
use crate::views::Dirty;
use std::collections::{BTreeSet, HashSet};

/// What a merge brings: a log batch's changes (`None` for a sync message) and the
/// trace contexts they carried.
#[derive(Clone, Copy, Default)]
pub(super) struct Merged<'a> {
    pub incoming: Option<&'a [Vec<u8>]>,
    pub traces: &'a [TraceContext],
}

impl Replica {
    /// [`super::Event::Changes`], its fields as they come.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn changes(
        &mut self,
        store: &dyn Storage,
        origin: NodeId,
        actors_refused: &BTreeSet<String>,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        traces: &super::Traces,
        checkpoint: Vec<(String, Vec<u8>)>,
        now_ms: u64,
    ) -> Vec<Effect> {
        let time_ms_max = self.time_ms_max(now_ms);
        let mut batch = StoreBatch::default();
        let mut dirty = Dirty::default();
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut retry = false;
        for (doc_id, changes) in docs {
            let incoming = Some(changes.as_slice());
            let traced = traces.get(&doc_id).map_or(&[][..], Vec::as_slice);
            let merged = Merged { incoming, traces: traced };
            let result = self.merge(store, &doc_id, &origin, actors_refused, &mut batch, &mut dirty, merged, |doc| {
                doc.apply_remote(&changes, time_ms_max, actors_refused)
            });
            retry |= result.as_ref().is_err_and(Error::may_pass);
            let waiting = match &result {
                Err(Error::WaitingFull { .. }) => true,
                _ => {
                    self.docs.peek(&doc_id).is_some_and(|c| !c.waiting.is_empty() || c.pinned)
                        || self.quarantined.contains(&doc_id)
                }
            };
            outcomes.push(Effect::Applied { doc: doc_id, result, waiting });
        }
        if !retry {
            // Changes that failed for now would be skipped by a checkpoint past them:
            // the peer resends from the old one instead (what did apply is then a
            // duplicate). Waiting changes are in this batch: the checkpoint may pass.
            batch.meta.extend(checkpoint);
        }
        self.note_waiting(&mut batch);
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        let mut effects = vec![Effect::Persist(batch)];
        effects.extend(outcomes);
        effects
    }

    /// Keeps the index of documents with waiting changes (meta `waiting`) in step
    /// with the `waiting/<doc>` entries `batch` writes and deletes.
    pub(super) fn note_waiting(&mut self, batch: &mut StoreBatch) {
        let doc_of = |name: &str| name.strip_prefix("waiting/").and_then(|doc| DocId::parse(doc).ok());
        let mut changed = false;
        for doc in batch.meta.iter().filter_map(|(name, _)| doc_of(name)) {
            changed |= self.waiting_docs.insert(doc);
        }
        for doc in batch.meta_deleted.iter().filter_map(|name| doc_of(name)) {
            changed |= self.waiting_docs.remove(&doc);
        }
        if changed {
            batch.meta.push((waiting::INDEX_META.to_string(), waiting::encode_index(&self.waiting_docs)));
        }
    }

    /// The latest time a peer's change made by `now_ms` may carry (see
    /// [`super::ReplicaConfig::skew_ms_max`]).
    pub(super) fn time_ms_max(&self, now_ms: u64) -> i64 {
        i64::try_from(now_ms.saturating_add(self.config.skew_ms_max)).unwrap_or(i64::MAX)
    }

    /// Merges a peer's changes into a document (loading or creating it), logs the new
    /// ones with their origin and moves the views. `incoming`: the changes of a log
    /// batch, of which those that wait for their dependencies are stored in `batch`
    /// (`None` for a sync message: what it brings early stays in memory, and the
    /// document with it, while the sync goes on). `actors_refused`: the nodes whose
    /// actors `origin` may not write under (see `doc::admit`); a log batch's changes
    /// are checked as they come, a sync message's once merged (those that waited here
    /// before were checked when they came).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn merge(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        origin: &NodeId,
        actors_refused: &BTreeSet<String>,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
        merged: Merged<'_>,
        merge: impl FnOnce(&mut RegistryDoc) -> Result<crate::doc::RemoteApplied>,
    ) -> Result<usize> {
        let Merged { incoming, traces } = merged;
        let schema = self.registries.get(&doc_id.registry)?;
        if !schema.shard_is_valid(&doc_id.shard) {
            let rule = format!(
                "registry `{}` never makes shard `{}` (rule: {:?})",
                schema.name, doc_id.shard, schema.shard_by
            );
            return Err(Error::Inadmissible { doc: doc_id.to_string(), rule });
        }
        let cached = self
            .cached_mut(store, doc_id, true)?
            .ok_or_else(|| Error::RecordNotFound { record: doc_id.to_string() })?;
        // Stored changes of other batches, maybe of other peers, that this merge may
        // let apply: they are logged apart (below).
        let waited: HashSet<Vec<u8>> = cached.waiting.iter().cloned().collect();
        let synced_actors = |applied: &crate::doc::RemoteApplied| -> Result<()> {
            if incoming.is_some() || actors_refused.is_empty() {
                return Ok(());
            }
            let doc = doc_id.to_string();
            let mut brought =
                applied.changes.iter().zip(&applied.actors).filter(|(change, _)| !waited.contains(*change));
            brought.try_for_each(|(_, actor)| crate::doc::check_actor(&doc, actor, actors_refused))
        };
        let mut applied = match merge(&mut cached.doc).and_then(|applied| synced_actors(&applied).map(|()| applied)) {
            Ok(applied) => applied,
            Err(e) => {
                // Automerge may have applied part of the batch: drop the document so the
                // next use reloads it from the store, which holds only whole batches
                // (and the changes that waited before, from their own entry).
                self.docs.remove(doc_id);
                return Err(e);
            }
        };
        // Before anything of this document enters the batch: should carrying fail, the
        // document reloads without these changes and they come again.
        let late = std::mem::take(&mut applied.late);
        let carried = match late.is_empty() {
            true => Vec::new(),
            false => self.carry_late(store, doc_id, late, applied.time_max_ms).inspect_err(|_| {
                self.docs.remove(doc_id);
            })?,
        };
        let cached = self.docs.get_mut(doc_id).ok_or_else(|| Error::RecordNotFound { record: doc_id.to_string() })?;
        let queued = cached.doc.has_waiting_changes();
        cached.pinned = queued && (cached.pinned || incoming.is_none());
        // A sync message may bring what stored changes wait for: they are checked too.
        if (incoming.is_some() && queued) || !cached.waiting.is_empty() {
            let still = waiting::still_waiting(&mut cached.doc, &cached.waiting, incoming.unwrap_or_default());
            let bytes: usize = still.iter().map(Vec::len).sum();
            if bytes > waiting::WAITING_BYTES_MAX {
                self.docs.remove(doc_id);
                for (copy, _) in &carried {
                    self.docs.remove(copy);
                }
                let bytes_max = waiting::WAITING_BYTES_MAX;
                return Err(Error::WaitingFull { doc: doc_id.to_string(), bytes, bytes_max });
            }
            if still != cached.waiting {
                let name = waiting::meta_name(doc_id);
                match still.is_empty() {
                    true => batch.meta_deleted.push(name),
                    false => batch.meta.push((name, waiting::encode(&still))),
                }
                cached.waiting = still;
            }
        }
        let count = applied.changes.len();
        if count > 0 {
            // Changes that waited and apply now came with an earlier batch, maybe from
            // another peer (a district's change to a community's record, waiting at a
            // street for the community's own): logged as from `origin`, they would
            // never ship back to it, and it would never get the other peer's change.
            // Their peer is not kept, so they ship to every link (a duplicate to the one
            // they came from costs bytes, never a change).
            let is_new_here = |change: &Vec<u8>| incoming.is_some_and(|incoming| incoming.contains(change));
            let (released, from_origin): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
                applied.changes.into_iter().partition(|change| waited.contains(change) && !is_new_here(change));
            if !from_origin.is_empty() {
                self.log_changes(doc_id, Some(origin.clone()), from_origin, traces, batch, dirty);
            }
            if !released.is_empty() {
                // Their traces came with their own batch and ended here.
                self.log_changes(doc_id, None, released, &[], batch, dirty);
            }
            self.clock.observe(Hlc::from_parts(u64::try_from(applied.time_max_ms).unwrap_or(0), 0));
        }
        for (copy, change) in carried {
            self.log_changes(&copy, None, vec![change], traces, batch, dirty);
        }
        Ok(count)
    }
}
