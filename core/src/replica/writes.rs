//! Local writes: validating each write against its schema and scope, one Automerge
//! change per touched document, and the log entries and view moves that every kind of
//! change shares (`log_changes`). Also the runtime's own named values
//! ([`Event::Meta`](super::Event::Meta)): local writes too, without a document.
//!
//! A write that fails validation costs nothing. If Automerge still refuses one that
//! passed, its document's whole open transaction is rolled back, and every write to
//! that document in the batch fails: a batch never persists half a document's writes.

use super::{Effect, Replica, Written};
use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::ids::{DocId, NodeId, RecordKey};
use crate::store::{LogEntry, Storage, StoreBatch};
use crate::trace::TraceContext;
use crate::views::Dirty;
use crate::write::{FieldOp, Target, Write};
use std::collections::{BTreeMap, BTreeSet};

/// Writes a batch needs before its documents' changes are made on several threads: a
/// thread costs tens of µs to start, a write's change tens of µs to make.
const PARALLEL_WRITES_MIN: usize = 8;

impl Replica {
    pub(super) fn writes(&mut self, store: &dyn Storage, writes: Vec<(u64, Write)>, now_ms: u64) -> Vec<Effect> {
        let mut batch = StoreBatch::default();
        let mut results: Vec<(u64, Result<(RecordKey, Hlc)>)> = Vec::with_capacity(writes.len());
        // Writes per document in this batch: one Automerge change per document.
        let mut pending: BTreeSet<DocId> = BTreeSet::new();
        let mut rolled_back: BTreeSet<DocId> = BTreeSet::new();
        // Per document, the traces of the writes its change holds.
        let mut traces: BTreeMap<DocId, Vec<TraceContext>> = BTreeMap::new();
        for (request, write) in writes {
            let at = self.clock.now(now_ms);
            let result = self.write_one(store, &write, at, &mut batch, &rolled_back);
            match &result {
                Ok(key) => {
                    if let Some(trace) = write.trace {
                        crate::trace::join(traces.entry(key.doc.clone()).or_default(), [trace]);
                    }
                    pending.insert(key.doc.clone());
                }
                Err(Error::RolledBack { doc, .. }) => {
                    rolled_back.extend(DocId::parse(doc).ok());
                }
                Err(_) => {}
            }
            results.push((request, result.map(|key| (key, at))));
        }
        let mut seqs = BTreeMap::new();
        let mut dirty = Dirty::default();
        let written = results.iter().filter(|(_, result)| result.is_ok()).count();
        let mut committed = self.commit_all(&pending, self.clock.last(), written);
        for doc_id in pending {
            let traced = traces.get(&doc_id).map_or(&[][..], Vec::as_slice);
            let change = committed.remove(&doc_id).unwrap_or(Ok(None));
            match self.commit_doc(&doc_id, change, traced, &mut batch, &mut dirty) {
                Ok(Some(seq)) => {
                    seqs.insert(doc_id, seq);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(doc = %doc_id, error = %e, "commit failed after validation; its writes fail");
                    batch.local.retain(|(record, _, _)| record.doc != doc_id);
                    rolled_back.insert(doc_id.clone());
                }
            }
        }
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        let mut effects = vec![Effect::Persist(batch)];
        for (request, result) in results {
            let result = result.and_then(|(key, at)| {
                if rolled_back.contains(&key.doc) {
                    let cause = "another write to this document in the batch failed in Automerge".into();
                    return Err(Error::RolledBack { doc: key.doc.to_string(), cause });
                }
                Ok(Written { seq: seqs.get(&key.doc).copied(), key, at })
            });
            effects.push(Effect::Written { request, result });
        }
        effects
    }

    /// Validates one write and applies it to its document's open transaction.
    fn write_one(
        &mut self,
        store: &dyn Storage,
        write: &Write,
        at: Hlc,
        batch: &mut StoreBatch,
        rolled_back: &BTreeSet<DocId>,
    ) -> Result<RecordKey> {
        let (key, create) = match &write.target {
            Target::Create { owner, registry } => {
                let schema = self.registries.get(registry)?;
                let shard_ms = schema.shard_field.as_ref().and_then(|field| {
                    write.ops.iter().find_map(|op| match op {
                        FieldOp::Set { field: f, value } if f == field => value.as_i64(),
                        _ => None,
                    })
                });
                let wall_ms = i64::try_from(at.wall_ms()).unwrap_or(i64::MAX);
                let doc = DocId::new(owner, registry, &schema.shard_for(shard_ms, wall_ms))?;
                let id = format!("r{:x}.{}", at.0, self.config.node);
                (RecordKey::new(doc, &id)?, true)
            }
            Target::Update(key) => (key.clone(), false),
        };
        if !self.config.scope.allows(&key.doc.owner) {
            return Err(Error::NotOwner {
                record: key.to_string(),
                doc: key.doc.to_string(),
                node: self.config.node.to_string(),
            });
        }
        if rolled_back.contains(&key.doc) {
            let cause = "an earlier write to this document in the batch failed in Automerge".into();
            return Err(Error::RolledBack { doc: key.doc.to_string(), cause });
        }
        let node = self.config.node.clone();
        let doc =
            self.doc_mut(store, &key.doc, create)?.ok_or_else(|| Error::RecordNotFound { record: key.to_string() })?;
        let plan = doc.plan(&key.id, create, &write.ops)?;
        if let Err(e) = doc.apply(&plan, at, node.as_str()) {
            // Validation makes this unreachable in practice; if Automerge still refuses,
            // drop the document's whole open transaction rather than persist half a write.
            // The batch's earlier writes to this document go with it: `writes` fails them.
            doc.rollback();
            batch.local.retain(|(record, _, _)| record.doc != key.doc);
            return Err(Error::RolledBack { doc: key.doc.to_string(), cause: e.to_string() });
        }
        for (field, value) in plan.local {
            batch.local.push((key.clone(), field, value.to_json()));
        }
        Ok(key)
    }

    /// Commits the open transactions of the documents `pending` (their Automerge
    /// changes, most of a write's cost), stamped `at`: each document's change is made
    /// on its own, so with several documents and at least [`PARALLEL_WRITES_MIN`]
    /// writes they are made on up to `commit_threads` threads. The result does not
    /// depend on the threads: each change is its document's alone, and what follows
    /// (log entries, views) runs in the order of `pending`.
    fn commit_all(
        &mut self,
        pending: &BTreeSet<DocId>,
        at: Hlc,
        writes: usize,
    ) -> BTreeMap<DocId, Result<Option<Vec<u8>>>> {
        let docs = self.docs.many_mut(pending);
        let threads = match writes >= PARALLEL_WRITES_MIN {
            true => self.config.commit_threads.clamp(1, docs.len().max(1)),
            false => 1,
        };
        if threads == 1 {
            return docs.into_iter().map(|(id, cached)| (id.clone(), cached.doc.commit(at))).collect();
        }
        let mut parts: Vec<Vec<(&DocId, &mut super::cache::CachedDoc)>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, doc) in docs.into_iter().enumerate() {
            parts[i % threads].push(doc);
        }
        std::thread::scope(|scope| {
            let running: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    scope.spawn(move || {
                        part.into_iter().map(|(id, cached)| (id.clone(), cached.doc.commit(at))).collect::<Vec<_>>()
                    })
                })
                .collect();
            // A panic in a commit goes on as if it had happened here.
            running
                .into_iter()
                .flat_map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    }

    /// Logs a document's committed change (`change`, from [`Self::commit_all`]) and
    /// updates the views. `None`: the transaction held nothing (the writes set only
    /// local fields).
    fn commit_doc(
        &mut self,
        doc_id: &DocId,
        change: Result<Option<Vec<u8>>>,
        traces: &[TraceContext],
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Result<Option<u64>> {
        let Some(cached) = self.docs.get_mut(doc_id) else { return Ok(None) };
        let change = match change {
            Ok(Some(change)) => change,
            Ok(None) => {
                // Local-only writes still move no view, but drain the row log anyway.
                cached.doc.take_row_changes();
                return Ok(None);
            }
            Err(e) => {
                // Unreachable after validation: drop the transaction and fail its writes.
                cached.doc.rollback();
                return Err(e);
            }
        };
        Ok(self.log_changes(doc_id, None, vec![change], traces, batch, dirty))
    }

    /// Appends changes just applied to a cached document to the log (and so to its
    /// chunks), compacts it if it has too many chunks, and moves the views by the
    /// rows of the records the changes touched. `traces`: the contexts of the writes
    /// the changes hold, for the entry to carry on; where there are any, moving the
    /// views is a span of their trace (under the runtime's span of the step).
    pub(super) fn log_changes(
        &mut self,
        doc_id: &DocId,
        origin: Option<NodeId>,
        changes: Vec<Vec<u8>>,
        traces: &[TraceContext],
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Option<u64> {
        let cached = self.docs.get_mut(doc_id)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let traces = traces.iter().take(crate::trace::TRACES_PER_ENTRY_MAX).copied().collect();
        batch.log.push(LogEntry { seq, doc: doc_id.clone(), origin, changes, traces });
        cached.note_chunk(seq);
        if cached.chunks >= self.config.compact_chunks_max {
            batch.snapshots.push(cached.compact());
        }
        let schema = cached.doc.schema().clone();
        let span = match batch.log.last().is_some_and(|entry| !entry.traces.is_empty()) {
            true => tracing::info_span!("linli.views.move", linli.node = %self.config.node, doc = %doc_id, seq),
            false => tracing::Span::none(),
        };
        let _moving = span.enter();
        for (record, old, new) in cached.doc.take_row_changes() {
            self.views.update(&schema, doc_id, &record, old.as_ref(), new.as_ref(), dirty);
        }
        self.known_docs.insert(doc_id.clone());
        Some(seq)
    }

    /// Persists the runtime's named values (see [`Event::Meta`](super::Event::Meta)) in one sealed batch.
    pub(super) fn meta(&mut self, entries: Vec<(String, Vec<u8>)>) -> Vec<Effect> {
        let mut batch = StoreBatch { meta: entries, ..StoreBatch::default() };
        self.seal(&mut batch);
        vec![Effect::Persist(batch)]
    }
}
