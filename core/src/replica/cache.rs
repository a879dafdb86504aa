//! The bounded cache of open documents.

use crate::doc::RegistryDoc;
use crate::ids::DocId;
use crate::store::Snapshot;
use std::collections::HashMap;

pub struct CachedDoc {
    pub doc: RegistryDoc,
    /// Incremental chunks stored since the last snapshot.
    pub chunks: usize,
    /// The seq of the newest chunk: what a snapshot taken now covers.
    pub last_seq: u64,
    /// Peers' changes of this document that wait for their dependencies, as stored
    /// under `waiting/<doc>` (see [`super::waiting`]); Automerge queues them too.
    pub waiting: Vec<Vec<u8>>,
    /// Automerge queues changes that are in memory only (a sync message brought them
    /// before their dependencies): kept in the cache until they apply, as the sync
    /// that brought them goes on.
    pub pinned: bool,
    last_used: u64,
}

impl CachedDoc {
    pub fn new(doc: RegistryDoc, chunks: usize, last_seq: u64) -> Self {
        Self { doc, chunks, last_seq, waiting: Vec::new(), pinned: false, last_used: 0 }
    }

    pub fn note_chunk(&mut self, seq: u64) {
        self.chunks += 1;
        self.last_seq = seq;
    }

    /// A snapshot replacing every chunk so far.
    pub fn compact(&mut self) -> Snapshot {
        self.chunks = 0;
        Snapshot { doc: self.doc.id().clone(), through_seq: self.last_seq, bytes: self.doc.save() }
    }
}

pub struct DocCache {
    docs: HashMap<DocId, CachedDoc>,
    capacity: usize,
    clock: u64,
}

impl DocCache {
    pub fn new(capacity: usize) -> Self {
        Self { docs: HashMap::new(), capacity: capacity.max(1), clock: 0 }
    }

    pub fn contains(&self, id: &DocId) -> bool {
        self.docs.contains_key(id)
    }

    pub fn insert(&mut self, id: DocId, doc: CachedDoc) {
        self.docs.insert(id, doc);
    }

    pub fn remove(&mut self, id: &DocId) {
        self.docs.remove(id);
    }

    /// The document if cached, without counting it as used.
    pub fn peek(&self, id: &DocId) -> Option<&CachedDoc> {
        self.docs.get(id)
    }

    pub fn get_mut(&mut self, id: &DocId) -> Option<&mut CachedDoc> {
        self.clock += 1;
        let clock = self.clock;
        let cached = self.docs.get_mut(id)?;
        cached.last_used = clock;
        Some(cached)
    }

    pub fn most_chunks(&mut self) -> Option<&mut CachedDoc> {
        self.docs.values_mut().max_by_key(|c| c.chunks)
    }

    pub fn over_bound(&self) -> bool {
        self.docs.len() > self.capacity
    }

    /// Drops least recently used documents past the bound. Called between steps only,
    /// when everything in memory has been persisted: a dropped document reloads from
    /// the store. Within one step the cache may exceed the bound by the documents
    /// that step touches.
    pub fn evict_to_bound(&mut self) {
        while self.docs.len() > self.capacity {
            let evictable = self.docs.iter().filter(|(_, c)| !c.pinned);
            let Some(oldest) = evictable.min_by_key(|(_, c)| c.last_used).map(|(id, _)| id.clone()) else {
                return;
            };
            self.docs.remove(&oldest);
        }
    }
}
