//! The replica engine: a state machine that takes events and returns effects.
//!
//! Events are local writes (arriving together, so they share one batch and one sync),
//! changes from peers, sync protocol steps, the runtime's named values, forgetting
//! documents, splits, and ticks. Effects are a batch to persist and the answers to
//! release once that batch is durable. The engine reads storage to load documents it
//! has not cached, but never writes it: the runtime commits [`Effect::Persist`] before
//! it acts on the effects that follow, and if that commit fails it must stop the
//! engine (memory is ahead of disk; a restart recovers from disk).
//!
//! The same engine runs at every tier; [`Scope`] says which documents a node may
//! originate changes for.
//!
//! The code is split by job: [`Event`] and [`Effect`] in `event`, local writes and the
//! log in `writes`, peers' changes in `merge` (late ones to a split's originals are
//! carried over to the copies in `late`), the sync protocol in `repair`, splits in
//! `split`, forgetting in `forget`, reads in `reads`; this module holds the state, opens
//! it, dispatches events, loads documents and trims the log. [`StoredReplica`] runs the
//! engine over a store in one thread.

mod cache;
mod config;
mod event;
mod forget;
mod late;
mod merge;
mod quarantine;
mod reads;
mod repair;
mod split;
mod stored;
mod waiting;
mod writes;

pub use config::{ReplicaConfig, Scope};
pub use event::{Effect, Event, Traces, Written};
pub use quarantine::quarantined;
pub use repair::SYNC_STATES_MAX;
pub use split::{SplitReport, SplitRule, split_value};
pub use stored::StoredReplica;
pub use waiting::WAITING_BYTES_MAX;

use crate::doc::RegistryDoc;
use crate::error::Result;
use crate::hlc::HlcClock;
use crate::ids::{DocId, NodeId};
use crate::schema::Registries;
use crate::store::{Snapshot, Storage, StoreBatch};
use crate::views::Views;
use cache::DocCache;
use std::collections::{BTreeSet, HashMap};

pub struct Replica {
    config: ReplicaConfig,
    registries: Registries,
    clock: HlcClock,
    next_seq: u64,
    docs: DocCache,
    known_docs: BTreeSet<DocId>,
    views: Views,
    /// The Automerge actor of this start: new at every start, so that a store
    /// restored from a backup never writes a change under an actor and sequence
    /// number a peer already holds for another change (Automerge refuses those).
    actor: String,
    /// The identity of this store's log, which links name in their checkpoints: kept
    /// for the store's life, renewed when the store turns out restored from a backup
    /// ([`Event::RenewLog`]).
    log_id: String,
    /// Set until the log's identity is in a committed batch.
    log_id_unsaved: bool,
    /// Views recounted at open because the stored ones could not be read: every stored
    /// view entry deleted, the recount written, in the next batch.
    views_rewrite: Vec<crate::views::ViewWrite>,
    /// Automerge sync protocol states, per peer and document in repair.
    sync_states: HashMap<(NodeId, DocId), automerge::sync::State>,
    /// The documents with peers' changes waiting for their dependencies (meta
    /// `waiting`, each with its `waiting/<doc>`): a load reads its entry only for these.
    waiting_docs: BTreeSet<DocId>,
    /// Documents quarantined and not repaired from a peer yet (meta `quarantined`).
    quarantined: BTreeSet<DocId>,
    /// What quarantines found that the next batch persists.
    quarantine: quarantine::Pending,
}

impl Replica {
    /// Opens the engine over what `store` holds: clock, log position, documents, views.
    /// Views that cannot be read are recounted from the documents (they are derived),
    /// and rewritten with the next batch ([`Self::birth`]): a node never refuses to
    /// start over what it can rebuild.
    pub fn open(config: ReplicaConfig, registries: Registries, store: &dyn Storage) -> Result<Self> {
        let entries = store.view_entries()?;
        let (views, unreadable) = match Views::from_entries(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))) {
            Ok(views) => (views, None),
            Err(e) => (Views::default(), Some(e)),
        };
        let actor = format!("{}.{:x}", config.node, config.incarnation);
        let (log_id, log_id_unsaved) = match store.log_id()? {
            Some(log_id) => (log_id, false),
            None => (actor.clone(), true),
        };
        let waiting_docs = match store.meta(waiting::INDEX_META)? {
            Some(bytes) => waiting::decode_index(&bytes)?,
            None => BTreeSet::new(),
        };
        let quarantined = quarantine::quarantined(store)?;
        let mut replica = Self {
            quarantined,
            quarantine: quarantine::Pending::default(),
            views_rewrite: Vec::new(),
            actor,
            log_id,
            log_id_unsaved,
            waiting_docs,
            sync_states: HashMap::new(),
            docs: DocCache::new(config.doc_cache_max, config.doc_cache_bytes_max),
            clock: HlcClock::resume(store.hlc()?),
            next_seq: store.log_last_seq()? + 1,
            known_docs: store.doc_ids()?.into_iter().collect(),
            config,
            registries,
            views,
        };
        if let Some(e) = unreadable {
            tracing::warn!(node = %replica.config.node, error = %e, "views cannot be read: recounting them from the documents");
            let (views, writes) = replica.recount_with_writes(store)?;
            replica.views = views;
            replica.views_rewrite =
                entries.into_iter().map(|(key, _)| crate::views::ViewWrite { key, value: None }).collect();
            replica.views_rewrite.extend(writes);
        }
        Ok(replica)
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

    /// The bytes of peers' changes each document holds waiting for their
    /// dependencies, as stored (see [`WAITING_BYTES_MAX`]): for status and tests.
    pub fn waiting_bytes(&self, store: &dyn Storage) -> Result<Vec<(DocId, usize)>> {
        let mut out = Vec::with_capacity(self.waiting_docs.len());
        for doc in &self.waiting_docs {
            let bytes = match store.meta(&waiting::meta_name(doc))? {
                Some(bytes) => waiting::decode(doc, &bytes)?.iter().map(Vec::len).sum(),
                None => 0,
            };
            out.push((doc.clone(), bytes));
        }
        Ok(out)
    }

    /// Documents quarantined because their stored bytes could not be read, and not
    /// repaired from a peer yet.
    pub fn quarantined(&self) -> &BTreeSet<DocId> {
        &self.quarantined
    }

    /// Documents in the cache and their memory by estimate: for metrics.
    pub fn cache_size(&self) -> (usize, usize) {
        (self.docs.documents(), self.docs.memory_bytes())
    }

    /// Documents holding peers' changes that wait for their dependencies.
    pub fn waiting_documents(&self) -> usize {
        self.waiting_docs.len()
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

    /// The Automerge actor this start writes changes with.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The identity of this store's log, which links name in their checkpoints.
    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    /// For a new store, the batch that records its log's identity, so the log has it
    /// before any link names it; or the recount of views that could not be read.
    /// `None` once recorded.
    pub fn birth(&mut self) -> Option<StoreBatch> {
        if !self.log_id_unsaved && self.views_rewrite.is_empty() && self.quarantine.batch.is_empty() {
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
        let mut effects = match event {
            Event::Writes { writes, now_ms } => self.writes(store, writes, now_ms),
            Event::Changes { origin, actors_refused, docs, traces, meta, now_ms } => {
                self.changes(store, origin, &actors_refused, docs, &traces, meta, now_ms)
            }
            Event::Sync { peer, actors_refused, doc, message, now_ms } => {
                self.sync(store, peer, &actors_refused, doc, message, now_ms)
            }
            Event::Meta { entries } => self.meta(entries),
            Event::Forget { owners, meta } => self.forget(store, &owners, meta),
            Event::Split { rule, now_ms } => self.split(store, &rule, now_ms),
            Event::Tick { now_ms: _ } => self.tick(),
            Event::RenewLog { stale } => self.renew_log(&stale),
            Event::TrimLog { through } => self.trim_log(through),
        };
        self.finish_quarantine(store, &mut effects);
        effects
    }

    /// Trims the log through `through` (see [`Event::TrimLog`]), keeping its last
    /// entry: the next start reads the log's end from it.
    fn trim_log(&mut self, through: u64) -> Vec<Effect> {
        let log_end = self.next_seq.saturating_sub(1);
        let through = through.min(log_end.saturating_sub(1));
        let mut batch = StoreBatch::default();
        if through > 0 {
            batch.log_trim_through = Some(through);
            tracing::debug!(node = %self.config.node, through, log_end, "log trimmed");
        }
        self.seal(&mut batch);
        vec![Effect::Persist(batch)]
    }

    /// A new identity for the log (see [`Event::RenewLog`]): unique to this node, this
    /// start and this point of the log. Every peer then holds a checkpoint of another
    /// log and repairs; shipping starts over from the log's beginning.
    fn renew_log(&mut self, stale: &str) -> Vec<Effect> {
        if self.log_id == stale {
            self.log_id = format!("{}.{:x}.{:x}", self.config.node, self.config.incarnation, self.next_seq);
            self.log_id_unsaved = true;
            tracing::warn!(node = %self.config.node, stale, log = %self.log_id, "log renewed: its peers repair");
        }
        let mut batch = StoreBatch::default();
        self.seal(&mut batch);
        vec![Effect::Persist(batch), Effect::LogRenewed { log_id: self.log_id.clone() }]
    }

    /// What every batch carries besides its changes: the clock's high-water mark, the
    /// log's identity when it is new, and what quarantines and recounts left for it.
    fn seal(&mut self, batch: &mut StoreBatch) {
        if !self.quarantine.batch.is_empty() {
            // Before the batch's own parts: a snapshot it takes later covers more.
            let mut first = std::mem::take(&mut self.quarantine.batch);
            first.extend(std::mem::take(batch));
            *batch = first;
        }
        batch.hlc = Some(self.clock.last());
        if !self.views_rewrite.is_empty() {
            // Before the batch's own view writes, which are newer.
            let own = std::mem::take(&mut batch.views);
            batch.views = std::mem::take(&mut self.views_rewrite);
            batch.views.extend(own);
        }
        if self.log_id_unsaved {
            batch.log_id = Some(self.log_id.clone());
            self.log_id_unsaved = false;
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
            let actor = self.actor_for(doc_id, false);
            let actor = actor.as_str();
            let loaded = match store.load_doc(doc_id)? {
                Some(stored) => {
                    let chunks: Vec<&[u8]> = stored.chunks.iter().map(|(_, c)| c.as_slice()).collect();
                    let snapshot = stored.snapshot.as_ref().map(|(_, s)| s.as_slice());
                    match RegistryDoc::load(doc_id.clone(), schema.clone(), actor, snapshot, &chunks) {
                        Ok(mut doc) => {
                            let last_seq =
                                stored.chunks.last().map(|(s, _)| *s).or(stored.snapshot.as_ref().map(|(s, _)| *s));
                            let waiting = self.requeue(store, &mut doc)?;
                            let mut cached = cache::CachedDoc::new(doc, stored.chunks.len(), last_seq.unwrap_or(0));
                            cached.waiting = waiting;
                            Some(cached)
                        }
                        // Bytes Automerge cannot read: never again a failure of every use.
                        Err(cause) => Some(self.quarantine(store, doc_id, schema, &stored, &cause)?),
                    }
                }
                None if create => {
                    // Nothing of it applied yet, but changes to it may wait.
                    let mut doc = RegistryDoc::create(doc_id.clone(), schema, actor)?;
                    let waiting = self.requeue(store, &mut doc)?;
                    let mut cached = cache::CachedDoc::new(doc, 0, 0);
                    cached.waiting = waiting;
                    Some(cached)
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

    /// Queues a just loaded document's stored waiting changes again, if it has any.
    fn requeue(&self, store: &dyn Storage, doc: &mut RegistryDoc) -> Result<Vec<Vec<u8>>> {
        match self.waiting_docs.contains(doc.id()) {
            true => waiting::requeue(store, doc),
            false => Ok(Vec::new()),
        }
    }

    fn doc_mut(&mut self, store: &dyn Storage, doc_id: &DocId, create: bool) -> Result<Option<&mut RegistryDoc>> {
        Ok(self.cached_mut(store, doc_id, create)?.map(|cached| &mut cached.doc))
    }
}
