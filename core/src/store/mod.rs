//! Durable storage of a replica.
//!
//! The engine never writes to storage itself: it returns a [`StoreBatch`] and the
//! runtime commits it atomically and durably before releasing acknowledgements. Reads
//! (loading a document that is not cached, local fields) are plain calls. Two
//! implementations: [`MemoryStore`] here, for the simulator and tests, and
//! `RocksStore` in the `linli-store-rocks` crate, for nodes: core does no I/O and builds
//! without RocksDB. Both keep the same layout, written with [`codec`]:
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `chunks` | doc id, NUL, log seq (u64 BE) | the changes of that log entry, concatenated |
//! | `snapshots` | doc id | seq it covers (u64 BE), then the saved document |
//! | `docs` | doc id | empty: the documents this node holds |
//! | `log` | seq (u64 BE) | [`LogEntry`] |
//! | `views` | see `views::codec` | count, sum or empty |
//! | `local` | record key, NUL, field | JSON value: personal data, never replicated |
//! | `meta` | name | the HLC high-water mark, the log's identity, links' checkpoints |

pub mod codec;
mod memory;

pub use memory::MemoryStore;

use crate::error::Result;
use crate::hlc::Hlc;
use crate::ids::{DocId, NodeId, RecordKey};
use crate::trace::TraceContext;
use crate::views::ViewWrite;

/// One entry of the node's change log: changes applied to one document together,
/// local or received, under one sequence number. Replication ships these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    pub doc: DocId,
    /// The peer these changes came from; `None` for this node's own writes. A link
    /// never ships an entry back to the peer it came from.
    pub origin: Option<NodeId>,
    pub changes: Vec<Vec<u8>>,
    /// The trace contexts of the writes whose changes these are, where they were
    /// traced (see [`crate::trace`]); empty otherwise. Not part of the fingerprint.
    pub traces: Vec<TraceContext>,
}

impl LogEntry {
    /// Bytes of the entry's content: its changes, document and origin (the stored
    /// form adds a few bytes of framing). What metrics estimate a backlog's bytes by.
    pub fn encoded_len(&self) -> usize {
        let origin = self.origin.as_ref().map_or(0, |o| o.as_str().len());
        let doc = self.doc.owner.len() + self.doc.registry.len() + self.doc.shard.len() + 2;
        let traces = self.traces.len() * TraceContext::ENCODED_LEN;
        8 + doc + origin + traces + self.changes.iter().map(Vec::len).sum::<usize>()
    }

    /// A fingerprint of the entry (FNV-1a, 64 bits, over its sequence number, document
    /// and changes), never 0. A link's checkpoint carries the one of the entry it
    /// names: a log restored from a backup that wrote other entries under the same
    /// numbers is told apart from the log the peer acknowledged. Stable across
    /// versions and machines (it is stored in checkpoints), and not a defence against
    /// a forger, only against a mix-up.
    pub fn fingerprint(&self) -> u64 {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        let mut eat = |bytes: &[u8]| {
            for byte in bytes {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(PRIME);
            }
        };
        eat(&self.seq.to_be_bytes());
        eat(self.doc.to_string().as_bytes());
        for change in &self.changes {
            eat(&(change.len() as u64).to_be_bytes());
            eat(change);
        }
        hash.max(1)
    }
}

/// A document compacted into one saved blob that covers its chunks up to `through_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub doc: DocId,
    pub through_seq: u64,
    pub bytes: Vec<u8>,
}

/// Everything one step of the engine persists, all or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreBatch {
    /// New log entries; each is also its document's next incremental chunk.
    pub log: Vec<LogEntry>,
    pub snapshots: Vec<Snapshot>,
    pub views: Vec<ViewWrite>,
    /// Personal data by record and field, as JSON.
    pub local: Vec<(RecordKey, String, serde_json::Value)>,
    pub hlc: Option<Hlc>,
    /// The identity of this store's log, written by the first batch after creation,
    /// and again when the node learns its store was restored from a backup (a new
    /// identity, so that every peer repairs instead of trusting its checkpoint).
    pub log_id: Option<String>,
    /// Small named values of the runtime, e.g. a link's checkpoint, committed with
    /// the changes they describe.
    pub meta: Vec<(String, Vec<u8>)>,
    /// Named values to delete, after `meta` is written (a forgotten child's checkpoint
    /// and subtree).
    pub meta_deleted: Vec<String>,
    /// Documents this node no longer holds (a community moved to another street):
    /// their chunks, snapshot and entry in `docs` go. Their log entries stay.
    pub forget: Vec<DocId>,
    /// Log entries through this seq go ([`crate::replica::Event::TrimLog`]): every
    /// peer holds them, or stayed away past the retention bound. Never the log's last
    /// entry, so the log's end (and the next seq) survives a restart.
    pub log_trim_through: Option<u64>,
}

impl StoreBatch {
    pub fn is_empty(&self) -> bool {
        // A batch with only a clock mark may be skipped (nothing was stamped with it);
        // one that carries a log identity may not.
        self.log.is_empty()
            && self.snapshots.is_empty()
            && self.views.is_empty()
            && self.local.is_empty()
            && self.log_id.is_none()
            && self.meta.is_empty()
            && self.meta_deleted.is_empty()
            && self.forget.is_empty()
            && self.log_trim_through.is_none()
    }

    /// Folds `other` in after `self`, as if both were one step.
    pub fn extend(&mut self, other: StoreBatch) {
        self.log.extend(other.log);
        self.snapshots.extend(other.snapshots);
        self.views.extend(other.views);
        self.local.extend(other.local);
        self.hlc = self.hlc.max(other.hlc);
        self.log_id = self.log_id.take().or(other.log_id);
        self.meta.extend(other.meta);
        self.meta_deleted.extend(other.meta_deleted);
        self.forget.extend(other.forget);
        self.log_trim_through = self.log_trim_through.max(other.log_trim_through);
    }
}

/// A document as stored: the latest snapshot (if any) and the chunks after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDoc {
    pub snapshot: Option<(u64, Vec<u8>)>,
    pub chunks: Vec<(u64, Vec<u8>)>,
}

pub trait Storage: Send {
    /// Writes the batch atomically; returns once it is durable (WAL synced).
    fn commit(&mut self, batch: &StoreBatch) -> Result<()>;
    fn load_doc(&self, doc: &DocId) -> Result<Option<StoredDoc>>;
    fn doc_ids(&self) -> Result<Vec<DocId>>;
    fn view_entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Up to `max` log entries with `seq > after`, in order, starting at `after + 1`:
    /// [`crate::error::Error::LogTrimmed`] when that entry was trimmed away (a reader
    /// never skips entries without knowing it; see [`codec::check_dense`]).
    fn log_after(&self, after: u64, max: usize) -> Result<Vec<LogEntry>>;
    /// The highest sequence number in the log, 0 when empty.
    fn log_last_seq(&self) -> Result<u64>;
    /// The lowest sequence number still in the log, 0 when empty; entries below it
    /// were trimmed ([`StoreBatch::log_trim_through`]).
    fn log_first_seq(&self) -> Result<u64>;
    /// The highest sequence number trimmed from the log, 0 when none was.
    fn log_trimmed(&self) -> Result<u64> {
        Ok(self.log_first_seq()?.saturating_sub(1))
    }
    fn local_fields(&self, key: &RecordKey) -> Result<Vec<(String, serde_json::Value)>>;
    /// The highest HLC persisted, so a restarted node never reuses a timestamp.
    fn hlc(&self) -> Result<Hlc>;
    /// The identity of this store's log ([`StoreBatch::log_id`]), if any yet.
    fn log_id(&self) -> Result<Option<String>>;
    /// A value committed through [`StoreBatch::meta`].
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>>;
}
