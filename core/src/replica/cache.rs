//! The bounded cache of open documents: at most so many documents, and at most so
//! many bytes of memory by their estimate ([`RegistryDoc::memory_bytes`]; their size
//! as stored says little of it: a month's requests stored in 70 KB hold 3 MB). Past
//! either bound the least recently used documents go; one reloads from the store (its
//! snapshot and up to `compact_chunks_max` chunks), which is what a cache too small for
//! a node's working set pays on every batch.

use crate::doc::RegistryDoc;
use crate::ids::DocId;
use crate::store::Snapshot;
use std::collections::{BTreeSet, HashMap};

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
    /// Its memory as estimated when it was loaded or last changed: what the cache's
    /// byte bound counts.
    pub memory_bytes: usize,
    last_used: u64,
}

impl CachedDoc {
    pub fn new(doc: RegistryDoc, chunks: usize, last_seq: u64) -> Self {
        let memory_bytes = doc.memory_bytes();
        Self { doc, chunks, last_seq, waiting: Vec::new(), pinned: false, memory_bytes, last_used: 0 }
    }

    /// A chunk of the document's new changes was stored as `seq`.
    pub fn note_chunk(&mut self, seq: u64) {
        self.chunks += 1;
        self.last_seq = seq;
        self.memory_bytes = self.doc.memory_bytes();
    }

    /// A snapshot replacing every chunk so far.
    pub fn compact(&mut self) -> Snapshot {
        self.chunks = 0;
        let bytes = self.doc.save();
        Snapshot { doc: self.doc.id().clone(), through_seq: self.last_seq, bytes }
    }
}

pub struct DocCache {
    docs: HashMap<DocId, CachedDoc>,
    capacity: usize,
    bytes_max: usize,
    clock: u64,
}

impl DocCache {
    pub fn new(capacity: usize, bytes_max: usize) -> Self {
        Self { docs: HashMap::new(), capacity: capacity.max(1), bytes_max, clock: 0 }
    }

    /// Documents cached now.
    pub fn documents(&self) -> usize {
        self.docs.len()
    }

    /// The memory of the documents cached, by their estimates.
    pub fn memory_bytes(&self) -> usize {
        self.docs.values().map(|c| c.memory_bytes).sum()
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

    /// The cached documents among `ids`, each borrowed on its own (documents that are
    /// not cached are left out); counted as used.
    pub fn many_mut(&mut self, ids: &BTreeSet<DocId>) -> Vec<(&DocId, &mut CachedDoc)> {
        self.clock += 1;
        let clock = self.clock;
        let mut docs: Vec<_> = self.docs.iter_mut().filter(|(id, _)| ids.contains(*id)).collect();
        for (_, cached) in docs.iter_mut() {
            cached.last_used = clock;
        }
        docs
    }

    pub fn most_chunks(&mut self) -> Option<&mut CachedDoc> {
        self.docs.values_mut().max_by_key(|c| c.chunks)
    }

    /// Whether the cache is past its bound with a document [`Self::evict_to_bound`]
    /// would drop (not pinned, not the most recently used).
    pub fn over_bound(&self) -> bool {
        let past = self.docs.len() > self.capacity || self.memory_bytes() > self.bytes_max;
        past && self.evictable().next().is_some()
    }

    /// The documents eviction may drop: neither pinned nor the most recently used.
    fn evictable(&self) -> impl Iterator<Item = (&DocId, &CachedDoc)> {
        let newest = self.docs.values().map(|c| c.last_used).max();
        self.docs.iter().filter(move |(_, c)| !c.pinned && Some(c.last_used) != newest)
    }

    /// Drops least recently used documents past the bound. Called between steps only,
    /// when everything in memory has been persisted: a dropped document reloads from
    /// the store. Within one step the cache may exceed the bound by the documents
    /// that step touches. The most recently used document always stays, even alone
    /// past the bound: dropping it would reload it whole on the next step that
    /// touches it, which for a document larger than the bound is every step (the
    /// bound is then exceeded by that one document).
    pub fn evict_to_bound(&mut self) {
        let mut bytes = self.memory_bytes();
        while self.docs.len() > self.capacity || bytes > self.bytes_max {
            let Some(oldest) = self.evictable().min_by_key(|(_, c)| c.last_used).map(|(id, _)| id.clone()) else {
                return;
            };
            if let Some(gone) = self.docs.remove(&oldest) {
                bytes = bytes.saturating_sub(gone.memory_bytes);
            }
        }
    }
}
