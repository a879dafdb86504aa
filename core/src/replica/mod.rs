//! The replica engine: a state machine that takes events and returns effects.
//!
//! Events are local writes (arriving together, so they share one batch and one sync),
//! changes from peers, and ticks. Effects are a batch to persist and the answers to
//! release once that batch is durable. The engine reads storage to load documents it
//! has not cached, but never writes it: the runtime commits [`Effect::Persist`] before
//! it acts on the effects that follow, and if that commit fails it must stop the
//! engine (memory is ahead of disk; a restart recovers from disk).
//!
//! The same engine runs at every tier; [`Scope`] says which documents a node may
//! originate changes for.

mod cache;
mod stored;

pub use stored::StoredReplica;

use crate::doc::{Record, RegistryDoc};
use crate::error::{Error, Result};
use crate::hlc::{Hlc, HlcClock};
use crate::ids::{DocId, NodeId, RecordKey};
use crate::schema::{FieldType, Registries};
use crate::store::{LogEntry, Snapshot, Storage, StoreBatch};
use crate::views::{Dirty, Views};
use crate::write::{FieldOp, Target, Write};
use cache::DocCache;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Documents whose owner this node may originate changes for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A community: its own documents. A street: its communities'. Listed explicitly.
    Owners(BTreeSet<String>),
    /// The district: everything below it.
    All,
}

impl Scope {
    pub fn only(owner: &str) -> Self {
        Scope::Owners([owner.to_string()].into())
    }
    pub fn allows(&self, owner: &str) -> bool {
        match self {
            Scope::Owners(owners) => owners.contains(owner),
            Scope::All => true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub node: NodeId,
    pub scope: Scope,
    /// Documents kept in memory; least recently used ones are dropped past this.
    pub doc_cache_max: usize,
    /// A cached document with this many incremental chunks is compacted on a tick.
    pub compact_chunks_min: usize,
    /// Past this many chunks a document is compacted inline, in the write's batch,
    /// so that loading never replays more than this many chunks.
    pub compact_chunks_max: usize,
    /// Makes this store's Automerge actor unique when the store is new: the actor is
    /// `<node>.<incarnation in hex>`, kept for the store's life. A node whose disk was
    /// wiped must not reuse its old actor: peers hold its old changes, and Automerge
    /// identifies a change by actor and sequence number. Runtimes pass the wall clock
    /// in nanoseconds; the simulator a seeded value.
    pub incarnation: u64,
}

impl ReplicaConfig {
    pub fn new(node: NodeId, scope: Scope) -> Self {
        Self { node, scope, doc_cache_max: 256, compact_chunks_min: 64, compact_chunks_max: 512, incarnation: 1 }
    }
}

/// A write that is durable: where the record is, the log entry that holds it and its
/// HLC timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: RecordKey,
    /// The log entry holding the change; `None` when the write set only local fields,
    /// which never enter the document or the log.
    pub seq: Option<u64>,
    pub at: Hlc,
}

pub enum Event {
    /// Local writes that arrived together, each with the caller's request id.
    Writes { writes: Vec<(u64, Write)>, now_ms: u64 },
    /// Changes received from `origin` (a peer), grouped by document. `meta` is
    /// committed in the same batch: the link's checkpoint for what this applies.
    Changes { origin: NodeId, docs: Vec<(DocId, Vec<Vec<u8>>)>, meta: Vec<(String, Vec<u8>)> },
    /// A step of Automerge's sync protocol with `peer` on one document: receive its
    /// message, or (`None`) start over. Answered by [`Effect::Sync`].
    Sync { peer: NodeId, doc: DocId, message: Option<Vec<u8>> },
    /// Drops the documents of owners this node no longer serves (a community moved
    /// to another street): they leave the views, the cache and the store.
    Forget { owners: BTreeSet<String> },
    /// Splits community `from` (as 双合家园 was in 2020). For every document of `from`
    /// this node holds, every record not moved yet goes to the owner `to` maps the
    /// value of its `by_field` to (the value as a string: an enum or string as is,
    /// other types as JSON), or to `default_to` when the value is unmapped or absent;
    /// with neither, it stays (counted in [`SplitReport::left`]). Moving a record
    /// copies it into `<target>/<same registry>/<same shard>` under the same id, with
    /// every replicated field at its current value, every claim, and `split_from`
    /// naming the original; the original keeps its fields and gains `moved_to`, which
    /// takes it out of the views and refuses writes to it: it is history. Local
    /// (personal) fields are not copied: they stay at the old community's node.
    ///
    /// The node must be allowed to write `from` and every target named, or nothing is
    /// done ([`Error::NotOwner`]). Everything goes in one batch with the view updates.
    /// Running it again moves only records that were not moved yet: records written
    /// to `from` after the split, or that reached this node after it, are not moved
    /// until it runs again. Answered by [`Effect::Split`].
    Split { rule: SplitRule, now_ms: u64 },
    /// Time passes: background work (compaction), bounded per tick.
    Tick { now_ms: u64 },
}

/// How a community is split: see [`Event::Split`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRule {
    /// The community being split.
    pub from: String,
    /// The field whose value picks a record's new community, e.g. `grid`.
    pub by_field: String,
    /// Field value -> new community.
    pub to: BTreeMap<String, String>,
    /// The new community of records whose value is unmapped or absent.
    pub default_to: Option<String>,
}

/// What a split did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitReport {
    /// Records moved, by new owner. Owners that received none are not listed.
    pub moved: BTreeMap<String, usize>,
    /// Records with no mapping and no default: left in place, still counted at `from`.
    pub left: usize,
}

#[derive(Debug)]
pub enum Effect {
    /// Commit atomically and durably before acting on any later effect.
    Persist(StoreBatch),
    /// The answer to a local write; release it only after the preceding persist.
    Written { request: u64, result: Result<Written> },
    /// The outcome of a split; release it only after the preceding persist.
    Split { result: Result<SplitReport> },
    /// The outcome of a peer's changes to one document: how many were new here.
    Applied { doc: DocId, result: Result<usize> },
    /// The sync message to send `peer` next for `doc` (`None`: nothing is due), and
    /// how many changes its message brought.
    Sync { peer: NodeId, doc: DocId, reply: Option<Vec<u8>>, result: Result<usize> },
}

/// A field value as a split's mapping names it: strings and enums as they are, other
/// types as their JSON (`5`, `true`, `"1234.50"` for yuan without the quotes).
pub fn split_value(value: &crate::value::Value) -> String {
    match value.to_json() {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Sync protocol states kept at most; past it they are all dropped and the
/// documents in repair start over (correct, only a few more messages).
pub const SYNC_STATES_MAX: usize = 4096;

pub struct Replica {
    config: ReplicaConfig,
    registries: Registries,
    clock: HlcClock,
    next_seq: u64,
    docs: DocCache,
    known_docs: BTreeSet<DocId>,
    views: Views,
    /// This store's Automerge actor.
    actor: String,
    /// Set until the actor of a new store is in a committed batch.
    actor_unsaved: bool,
    /// Automerge sync protocol states, per peer and document in repair.
    sync_states: HashMap<(NodeId, DocId), automerge::sync::State>,
}

impl Replica {
    /// Opens the engine over what `store` holds: clock, log position, documents, views.
    pub fn open(config: ReplicaConfig, registries: Registries, store: &dyn Storage) -> Result<Self> {
        let views = Views::from_entries(store.view_entries()?.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))?;
        let (actor, actor_unsaved) = match store.actor()? {
            Some(actor) => (actor, false),
            None => (format!("{}.{:x}", config.node, config.incarnation), true),
        };
        Ok(Self {
            actor,
            actor_unsaved,
            sync_states: HashMap::new(),
            docs: DocCache::new(config.doc_cache_max),
            clock: HlcClock::resume(store.hlc()?),
            next_seq: store.log_last_seq()? + 1,
            known_docs: store.doc_ids()?.into_iter().collect(),
            config,
            registries,
            views,
        })
    }

    pub fn node(&self) -> &NodeId {
        &self.config.node
    }

    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    pub fn views(&self) -> &Views {
        &self.views
    }

    pub fn doc_ids(&self) -> impl Iterator<Item = &DocId> {
        self.known_docs.iter()
    }

    /// Whether the document cache holds more than its bound.
    pub fn cache_over_bound(&self) -> bool {
        self.docs.over_bound()
    }

    /// Drops least recently used documents past the cache's bound. Call it only when
    /// every batch the engine returned is durable: a dropped document reloads from the
    /// store, which must then hold all its changes.
    pub fn evict(&mut self) {
        self.docs.evict_to_bound();
    }

    /// This store's Automerge actor: also the identity of its log, which links name
    /// in their checkpoints.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// For a new store, the batch that records its actor, so the log has its identity
    /// before any link names it. `None` once recorded.
    pub fn birth(&mut self) -> Option<StoreBatch> {
        if !self.actor_unsaved {
            return None;
        }
        let mut batch = StoreBatch::default();
        self.seal(&mut batch);
        Some(batch)
    }

    /// The sequence number the next log entry will take.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn step(&mut self, store: &dyn Storage, event: Event) -> Vec<Effect> {
        match event {
            Event::Writes { writes, now_ms } => self.writes(store, writes, now_ms),
            Event::Changes { origin, docs, meta } => self.changes(store, origin, docs, meta),
            Event::Sync { peer, doc, message } => self.sync(store, peer, doc, message),
            Event::Forget { owners } => self.forget(store, &owners),
            Event::Split { rule, now_ms } => self.split(store, &rule, now_ms),
            Event::Tick { now_ms: _ } => self.tick(),
        }
    }

    fn writes(&mut self, store: &dyn Storage, writes: Vec<(u64, Write)>, now_ms: u64) -> Vec<Effect> {
        let mut batch = StoreBatch::default();
        let mut results: Vec<(u64, Result<(RecordKey, Hlc)>)> = Vec::with_capacity(writes.len());
        // Writes per document in this batch: one Automerge change per document.
        let mut pending: BTreeSet<DocId> = BTreeSet::new();
        let mut rolled_back: BTreeSet<DocId> = BTreeSet::new();
        for (request, write) in writes {
            let at = self.clock.now(now_ms);
            let result = self.write_one(store, &write, at, &mut batch, &rolled_back);
            match &result {
                Ok(key) => {
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
        for doc_id in pending {
            let at = self.clock.last();
            match self.commit_doc(&doc_id, at, &mut batch, &mut dirty) {
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

    /// Commits a document's open transaction into a log entry and updates the views.
    /// `None`: the transaction held nothing (the writes set only local fields).
    fn commit_doc(
        &mut self,
        doc_id: &DocId,
        at: Hlc,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Result<Option<u64>> {
        let Some(cached) = self.docs.get_mut(doc_id) else { return Ok(None) };
        let change = match cached.doc.commit(at) {
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
        Ok(self.log_changes(doc_id, None, vec![change], batch, dirty))
    }

    /// Appends changes just applied to a cached document to the log (and so to its
    /// chunks), compacts it if it has too many chunks, and moves the views by the
    /// rows of the records the changes touched.
    fn log_changes(
        &mut self,
        doc_id: &DocId,
        origin: Option<NodeId>,
        changes: Vec<Vec<u8>>,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Option<u64> {
        let cached = self.docs.get_mut(doc_id)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        batch.log.push(LogEntry { seq, doc: doc_id.clone(), origin, changes });
        cached.note_chunk(seq);
        if cached.chunks >= self.config.compact_chunks_max {
            batch.snapshots.push(cached.compact());
        }
        let schema = cached.doc.schema().clone();
        for (record, old, new) in cached.doc.take_row_changes() {
            self.views.update(&schema, doc_id, &record, old.as_ref(), new.as_ref(), dirty);
        }
        self.known_docs.insert(doc_id.clone());
        Some(seq)
    }

    fn changes(
        &mut self,
        store: &dyn Storage,
        origin: NodeId,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Vec<Effect> {
        let mut batch = StoreBatch { meta, ..StoreBatch::default() };
        let mut dirty = Dirty::default();
        let mut outcomes = Vec::with_capacity(docs.len());
        for (doc_id, changes) in docs {
            let result = self.apply_changes(store, &doc_id, &origin, &changes, &mut batch, &mut dirty);
            outcomes.push(Effect::Applied { doc: doc_id, result });
        }
        if self.docs.any_waiting() {
            // Changes wait in memory for their dependencies: a checkpoint past them
            // would lose them in a crash. The peer resends from the old one instead.
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
    fn merge(
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

    fn sync(&mut self, store: &dyn Storage, peer: NodeId, doc_id: DocId, message: Option<Vec<u8>>) -> Vec<Effect> {
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
                self.merge(store, &doc_id, &peer, &mut batch, &mut dirty, |doc| doc.receive_sync(state, bytes))
            }
            None => self.cached_mut(store, &doc_id, true).map(|_| 0),
        };
        let reply = match (&result, self.docs.get_mut(&doc_id)) {
            (Ok(_), Some(cached)) => cached.doc.generate_sync(&mut state),
            _ => None,
        };
        self.sync_states.insert(key, state);
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch), Effect::Sync { peer, doc: doc_id, reply, result }]
    }

    fn forget(&mut self, store: &dyn Storage, owners: &BTreeSet<String>) -> Vec<Effect> {
        let mut batch = StoreBatch::default();
        let mut dirty = Dirty::default();
        let gone: Vec<DocId> = self.known_docs.iter().filter(|d| owners.contains(&d.owner)).cloned().collect();
        for doc_id in gone {
            match self.cached_mut(store, &doc_id, false) {
                Ok(Some(cached)) => {
                    let schema = cached.doc.schema().clone();
                    let rows: Vec<(String, crate::views::Row)> =
                        cached.doc.rows().iter().map(|(id, row)| (id.clone(), row.clone())).collect();
                    for (record, row) in rows {
                        self.views.update(&schema, &doc_id, &record, Some(&row), None, &mut dirty);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // Keep it: forgetting without moving the views would leave them wrong.
                    tracing::error!(doc = %doc_id, error = %e, "cannot load a document to forget; kept");
                    continue;
                }
            }
            self.docs.remove(&doc_id);
            self.known_docs.remove(&doc_id);
            batch.forget.push(doc_id);
        }
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch)]
    }

    fn split(&mut self, store: &dyn Storage, rule: &SplitRule, now_ms: u64) -> Vec<Effect> {
        let mut batch = StoreBatch::default();
        let mut dirty = Dirty::default();
        let result = self.split_records(store, rule, now_ms, &mut batch, &mut dirty);
        let (from, by_field) = (rule.from.as_str(), rule.by_field.as_str());
        match &result {
            Ok(report) => tracing::info!(from, by_field, moved = ?report.moved, left = report.left, "split"),
            Err(e) => tracing::warn!(from, by_field, error = %e, "split refused"),
        }
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch), Effect::Split { result }]
    }

    /// Checks a split's input and scope before anything is touched.
    fn check_split(&self, rule: &SplitRule) -> Result<()> {
        let (from, by_field, to, default_to) =
            (rule.from.as_str(), rule.by_field.as_str(), &rule.to, rule.default_to.as_deref());
        let bad = |field, reason: String| Error::Split { field, reason };
        crate::ids::check_owner(from).map_err(|e| bad("from", e.to_string()))?;
        if !self.registries.iter().any(|schema| schema.field(by_field).is_some_and(|spec| !spec.local)) {
            let reason = format!("no registry declares a replicated field `{by_field}`");
            return Err(bad("by_field", reason));
        }
        let targets =
            to.values().map(|owner| ("to", owner.as_str())).chain(default_to.map(|owner| ("default_to", owner)));
        let mut owners = BTreeSet::from([from]);
        for (field, owner) in targets {
            crate::ids::check_owner(owner).map_err(|e| bad(field, e.to_string()))?;
            if owner == from {
                return Err(bad(field, format!("`{owner}` is the community being split")));
            }
            owners.insert(owner);
        }
        if owners.len() == 1 {
            return Err(bad("to", "names no new community, and there is no default_to".into()));
        }
        for owner in owners {
            if !self.config.scope.allows(owner) {
                return Err(Error::NotOwner {
                    record: format!("{owner}/*/*/*"),
                    doc: format!("{owner}/*/*"),
                    node: self.config.node.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The split itself (see [`Event::Split`]): copies and marks in the documents'
    /// open transactions, then commits them all into `batch`. On any error every
    /// touched document is rolled back and nothing reaches `batch`.
    fn split_records(
        &mut self,
        store: &dyn Storage,
        rule: &SplitRule,
        now_ms: u64,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Result<SplitReport> {
        self.check_split(rule)?;
        let at = self.clock.now(now_ms);
        let mut report = SplitReport::default();
        let mut touched = BTreeSet::new();
        if let Err(e) = self.split_apply(store, rule, &mut touched, &mut report) {
            self.split_undo(&touched, &BTreeSet::new());
            return Err(e);
        }
        let mut committed = Vec::with_capacity(touched.len());
        for doc_id in &touched {
            let Some(cached) = self.docs.get_mut(doc_id) else { continue };
            match cached.doc.commit(at) {
                Ok(Some(change)) => committed.push((doc_id.clone(), change)),
                Ok(None) => {
                    cached.doc.take_row_changes();
                }
                Err(e) => {
                    // Unreachable in practice (the same as a write's commit). All or
                    // nothing: documents already committed are dropped from the cache
                    // and reload from the store, which has none of this split.
                    let done: BTreeSet<DocId> = committed.into_iter().map(|(doc, _)| doc).collect();
                    self.split_undo(&touched, &done);
                    return Err(e);
                }
            }
        }
        for (doc_id, change) in committed {
            self.log_changes(&doc_id, None, vec![change], batch, dirty);
        }
        Ok(report)
    }

    /// Applies a split's copies and marks to open transactions; see [`Event::Split`].
    fn split_apply(
        &mut self,
        store: &dyn Storage,
        rule: &SplitRule,
        touched: &mut BTreeSet<DocId>,
        report: &mut SplitReport,
    ) -> Result<()> {
        let (from, by_field, to, default_to) =
            (rule.from.as_str(), rule.by_field.as_str(), &rule.to, rule.default_to.as_deref());
        let sources: Vec<DocId> = self.known_docs.iter().filter(|doc| doc.owner == from).cloned().collect();
        for source in sources {
            let schema = self.registries.get(&source.registry)?.clone();
            let by = schema.field(by_field).filter(|spec| !spec.local).map(|spec| spec.name.clone());
            let Some(doc) = self.doc_mut(store, &source, false)? else { continue };
            let mut moves: Vec<(Record, RecordKey)> = Vec::new();
            for id in doc.record_ids() {
                if doc.is_moved(&id) {
                    continue;
                }
                let Some(record) = doc.get(&id) else { continue };
                let value = by.as_deref().and_then(|field| record.get(field)).map(split_value);
                match value.and_then(|value| to.get(&value)).map(String::as_str).or(default_to) {
                    Some(owner) => {
                        let copy = RecordKey::new(DocId::new(owner, &source.registry, &source.shard)?, &id)?;
                        moves.push((record, copy));
                    }
                    None => report.left += 1,
                }
            }
            let missing = |doc: &DocId| Error::RecordNotFound { record: doc.to_string() };
            for (record, copy) in moves {
                touched.insert(copy.doc.clone());
                let target = self.doc_mut(store, &copy.doc, true)?.ok_or_else(|| missing(&copy.doc))?;
                // Already there (a split run elsewhere got here first): only mark.
                target.insert_copy(&record)?;
                touched.insert(source.clone());
                let original = self.doc_mut(store, &source, false)?.ok_or_else(|| missing(&source))?;
                original.mark_moved(&record.key.id, &copy)?;
                *report.moved.entry(copy.doc.owner.clone()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Undoes a failed split: open transactions roll back; documents in `committed`
    /// leave the cache, to reload from the store.
    fn split_undo(&mut self, touched: &BTreeSet<DocId>, committed: &BTreeSet<DocId>) {
        for doc_id in touched {
            if committed.contains(doc_id) {
                self.docs.remove(doc_id);
            } else if let Some(cached) = self.docs.get_mut(doc_id) {
                cached.doc.rollback();
            }
        }
    }

    /// What every batch carries besides its changes: the clock's high-water mark, and
    /// a new store's actor the first time.
    fn seal(&mut self, batch: &mut StoreBatch) {
        batch.hlc = Some(self.clock.last());
        if self.actor_unsaved {
            batch.actor = Some(self.actor.clone());
            self.actor_unsaved = false;
        }
    }

    /// Background work, bounded: compacts the cached document with the most chunks.
    fn tick(&mut self) -> Vec<Effect> {
        let min = self.config.compact_chunks_min;
        match self.docs.most_chunks().filter(|cached| cached.chunks >= min) {
            Some(cached) => {
                let snapshot: Snapshot = cached.compact();
                vec![Effect::Persist(StoreBatch { snapshots: vec![snapshot], ..StoreBatch::default() })]
            }
            None => Vec::new(),
        }
    }

    fn cached_mut(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        create: bool,
    ) -> Result<Option<&mut cache::CachedDoc>> {
        if !self.docs.contains(doc_id) {
            let schema = self.registries.get(&doc_id.registry)?.clone();
            let actor = self.actor.as_str();
            let loaded = match store.load_doc(doc_id)? {
                Some(stored) => {
                    let chunks: Vec<&[u8]> = stored.chunks.iter().map(|(_, c)| c.as_slice()).collect();
                    let snapshot = stored.snapshot.as_ref().map(|(_, s)| s.as_slice());
                    let doc = RegistryDoc::load(doc_id.clone(), schema, actor, snapshot, &chunks)?;
                    let last_seq = stored.chunks.last().map(|(s, _)| *s).or(stored.snapshot.as_ref().map(|(s, _)| *s));
                    Some(cache::CachedDoc::new(doc, stored.chunks.len(), last_seq.unwrap_or(0)))
                }
                None if create => {
                    Some(cache::CachedDoc::new(RegistryDoc::create(doc_id.clone(), schema, actor)?, 0, 0))
                }
                None => None,
            };
            match loaded {
                Some(cached) => self.docs.insert(doc_id.clone(), cached),
                None => return Ok(None),
            }
        }
        Ok(self.docs.get_mut(doc_id))
    }

    fn doc_mut(&mut self, store: &dyn Storage, doc_id: &DocId, create: bool) -> Result<Option<&mut RegistryDoc>> {
        Ok(self.cached_mut(store, doc_id, create)?.map(|cached| &mut cached.doc))
    }

    /// A record as this node holds it, with its local fields when it has them.
    pub fn get(&mut self, store: &dyn Storage, key: &RecordKey) -> Result<Option<Record>> {
        let Some(doc) = self.doc_mut(store, &key.doc, false)? else {
            return Ok(None);
        };
        let Some(mut record) = doc.get(&key.id) else {
            return Ok(None);
        };
        let schema = doc.schema().clone();
        for (field, json) in store.local_fields(key)? {
            if let Some(spec) = schema.field(&field).filter(|s| s.local && s.ty != FieldType::Claim) {
                let value = crate::value::parse(&spec.ty, &json).map_err(|problem| Error::Invalid {
                    record: key.to_string(),
                    field: field.clone(),
                    problem,
                })?;
                record.fields.insert(field, value);
            }
        }
        Ok(Some(record))
    }

    /// Records of `owner`'s `registry` whose fields equal every `(field, value)` of
    /// `filter`, in document then record order, at most `limit`. Local fields are not
    /// returned by lists.
    pub fn list(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        filter: &[(String, crate::value::Value)],
        limit: usize,
    ) -> Result<Vec<Record>> {
        let docs: Vec<DocId> =
            self.known_docs.iter().filter(|d| d.owner == owner && d.registry == registry).cloned().collect();
        let mut out = Vec::new();
        for doc_id in docs {
            let Some(doc) = self.doc_mut(store, &doc_id, false)? else {
                continue;
            };
            for id in doc.record_ids() {
                if out.len() >= limit {
                    return Ok(out);
                }
                if let Some(record) = doc.get(&id)
                    && filter.iter().all(|(field, value)| record.get(field) == Some(value))
                {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// A page of `owner`'s `registry` for drill-down: the records after `after` (a record
    /// key of the previous page) in document then record order, at most `limit`.
    /// Reads only the documents the page needs; local fields are not returned.
    pub fn list_page(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.registries.get(registry)?;
        let docs: Vec<DocId> = self
            .known_docs
            .iter()
            .filter(|d| d.owner == owner && d.registry == registry && after.is_none_or(|a| **d >= a.doc))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for doc_id in docs {
            let Some(doc) = self.doc_mut(store, &doc_id, false)? else {
                continue;
            };
            for id in doc.record_ids() {
                if after.is_some_and(|a| a.doc == doc_id && id <= a.id) {
                    continue;
                }
                if out.len() >= limit {
                    return Ok(out);
                }
                // A record a split moved away is history, shown at its new community.
                if doc.is_moved(&id) {
                    continue;
                }
                if let Some(record) = doc.get(&id) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// The views recounted from every document this node holds. Must equal
    /// [`Replica::views`]; used by tests, the simulator's checks and operators.
    pub fn recount(&mut self, store: &dyn Storage) -> Result<Views> {
        let ids: Vec<DocId> = self.known_docs.iter().cloned().collect();
        let mut docs = Vec::with_capacity(ids.len());
        for id in ids {
            let schema = self.registries.get(&id.registry)?.clone();
            // Read from storage, not the cache: this also checks what a restart would see.
            let stored = store.load_doc(&id)?.unwrap_or_default();
            let chunks: Vec<&[u8]> = stored.chunks.iter().map(|(_, c)| c.as_slice()).collect();
            let snapshot = stored.snapshot.as_ref().map(|(_, s)| s.as_slice());
            docs.push((schema.clone(), RegistryDoc::load(id, schema, &self.actor, snapshot, &chunks)?));
        }
        let rows = docs.iter().flat_map(|(schema, doc)| {
            doc.rows().iter().map(move |(record, row)| (schema.as_ref(), doc.id(), record.as_str(), row))
        });
        Ok(Views::rebuild(rows))
    }

    /// Every document as JSON, for comparing replicas.
    pub fn materialize(&mut self, store: &dyn Storage) -> Result<BTreeMap<String, serde_json::Value>> {
        let ids: Vec<DocId> = self.known_docs.iter().cloned().collect();
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(doc) = self.doc_mut(store, &id, false)? {
                out.insert(id.to_string(), doc.materialize());
            }
        }
        Ok(out)
    }

    /// Heads of a document, for comparing replicas.
    pub fn heads(&mut self, store: &dyn Storage, doc: &DocId) -> Result<Vec<automerge::ChangeHash>> {
        Ok(self.doc_mut(store, doc, false)?.map(|d| d.heads()).unwrap_or_default())
    }
}
