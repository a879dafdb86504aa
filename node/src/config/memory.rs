//! The `[memory]` table: what a node may hold in memory, in MiB.
//!
//! - `doc_cache_mib_max`: the open documents, by their estimated memory (default 256).
//!   Past it the least recently used go, and one reloads from the store when next
//!   used. Too small for the node's working set, every batch reloads documents.
//! - `write_buffers_mib_max`: RocksDB's write buffers of all column families together
//!   (default 16). Past it RocksDB flushes the largest to disk.
//! - `block_cache_mib`: RocksDB's cache of blocks read from disk (default 8).
//! - `log_cache_mib`: the newest log entries kept decoded for the links' senders
//!   (default 8; 0 keeps none). Past it the oldest go, and a link further behind reads
//!   the store.
//!
//! The views are not bounded here: they are the aggregates operators query, and they
//! grow with the records (their days, streets, categories), not with the traffic.

use super::ConfigError;
use super::numbers::{NumberTable, Slot};
use linli_store_rocks::StoreMemory;

/// `[memory]` keys, in the order of their defaults below.
pub const KEYS: [&str; 4] = ["doc_cache_mib_max", "write_buffers_mib_max", "block_cache_mib", "log_cache_mib"];
const BOUNDS: [(u64, u64); KEYS.len()] = [(1, 1 << 20), (1, 1 << 16), (1, 1 << 16), (0, 1 << 12)];
pub(super) const TABLE: NumberTable = NumberTable { name: "memory", keys: &KEYS, bounds: &BOUNDS };

const MIB: usize = 1 << 20;

/// What a node may hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// The document cache's bound (see `ReplicaConfig::doc_cache_bytes_max`).
    pub doc_cache_bytes_max: usize,
    /// The store's write buffers and block cache.
    pub store: StoreMemory,
    /// The newest log entries kept decoded for the links' senders.
    pub log_cache_bytes_max: usize,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        let doc_cache_bytes_max = linli_core::replica::ReplicaConfig::DOC_CACHE_BYTES_MAX;
        let log_cache_bytes_max = crate::engine::RECENT_LOG_BYTES_MAX;
        Self { doc_cache_bytes_max, store: StoreMemory::default(), log_cache_bytes_max }
    }
}

impl MemoryLimits {
    /// The limits with the keys of [`KEYS`] given in MiB, each with where it came from
    /// (`None`: the default), checked as a config file's would be.
    pub fn with_mib(given: [Option<(u64, &str)>; KEYS.len()]) -> Result<MemoryLimits, ConfigError> {
        let slots: Vec<Slot> = given
            .iter()
            .map(|given| given.map(|(value, source)| super::Sourced { value, source: source.to_string() }))
            .collect();
        build(&slots)
    }
}

/// The limits from what the file, the environment and the defaults gave.
pub(super) fn build(slots: &[Slot]) -> Result<MemoryLimits, ConfigError> {
    let d = MemoryLimits::default();
    let mib = |bytes: usize| (bytes / MIB) as u64;
    let defaults = [
        mib(d.doc_cache_bytes_max),
        mib(d.store.memtable_bytes_max),
        mib(d.store.block_cache_bytes),
        mib(d.log_cache_bytes_max),
    ];
    let (v, _) = TABLE.build(slots, &defaults)?;
    // Within the bounds above, every value fits a usize in MiB.
    let bytes = |mib: u64| mib as usize * MIB;
    Ok(MemoryLimits {
        doc_cache_bytes_max: bytes(v[0]),
        store: StoreMemory { memtable_bytes_max: bytes(v[1]), block_cache_bytes: bytes(v[2]) },
        log_cache_bytes_max: bytes(v[3]),
    })
}
