//! How a replica is set up: which documents it may originate changes for, and the
//! bounds of its cache and compaction.

use crate::ids::NodeId;
use std::collections::BTreeSet;

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
    /// Documents kept in memory; least recently used ones are dropped past this, or
    /// past [`Self::doc_cache_bytes_max`]. Default 8,192.
    pub doc_cache_max: usize,
    /// Memory of cached documents, by their estimates ([`crate::doc::RegistryDoc::memory_bytes`]).
    /// Default 256 MiB. The cache should hold a node's working set: below it, every
    /// batch reloads documents (at the district of Longgang, 888 documents, a bound of
    /// 256 documents made a street's catch-up after an 80 s cut take about 50 s; with
    /// the whole working set cached, under 3 s).
    pub doc_cache_bytes_max: usize,
    /// A cached document with this many incremental chunks is compacted on a tick.
    pub compact_chunks_min: usize,
    /// Past this many chunks a document is compacted inline, in the write's batch,
    /// so that loading never replays more than this many chunks.
    pub compact_chunks_max: usize,
    /// Makes this start's Automerge actor unique: the actor is
    /// `<node>.<incarnation in hex>`, and so is a new store's log identity. A node
    /// whose disk was wiped or restored from a backup must not reuse an actor: peers
    /// hold its old changes, and Automerge identifies a change by actor and sequence
    /// number, so a second change under the same pair is refused everywhere. Each
    /// start must pass a new value: runtimes pass the wall clock in nanoseconds; the
    /// simulator counts the node's starts.
    pub incarnation: u64,
    /// How far a peer's change may be dated after this node's clock: one made later
    /// is refused ([`crate::Error::ClockAhead`]), so a peer's wrong clock cannot move
    /// this node's for good. A server's `link.clock_skew_ms_max`. Default 300,000 (5 min).
    pub skew_ms_max: u64,
    /// Threads a batch of local writes may make its documents' changes on (see
    /// `Replica::writes`). Default 1: the simulator runs hundreds of replicas on one
    /// thread; a server sets its cores.
    pub commit_threads: usize,
}

impl ReplicaConfig {
    /// The default of [`Self::doc_cache_bytes_max`].
    pub const DOC_CACHE_BYTES_MAX: usize = 256 << 20;

    pub fn new(node: NodeId, scope: Scope) -> Self {
        Self {
            node,
            scope,
            doc_cache_max: 8_192,
            doc_cache_bytes_max: Self::DOC_CACHE_BYTES_MAX,
            compact_chunks_min: 64,
            compact_chunks_max: 512,
            incarnation: 1,
            skew_ms_max: crate::link::limits::CLOCK_SKEW_MS_MAX,
            commit_threads: 1,
        }
    }
}
