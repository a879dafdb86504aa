//! What the engine takes and what it returns: [`Event`]s in, [`Effect`]s out.
//!
//! Every event that changes anything answers with one [`Effect::Persist`] first (its
//! batch, sealed with the clock's mark), then the answers to release once it is durable.

use super::{SplitReport, SplitRule};
use crate::error::Result;
use crate::hlc::Hlc;
use crate::ids::{DocId, NodeId, RecordKey};
use crate::store::StoreBatch;
use crate::trace::TraceContext;
use crate::write::Write;
use std::collections::{BTreeMap, BTreeSet};

/// Per document, the trace contexts of a peer's changes to it; empty when none were traced.
pub type Traces = BTreeMap<DocId, Vec<TraceContext>>;

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
    /// `now_ms`, this node's wall clock, bounds the time of the changes (see
    /// [`super::ReplicaConfig::skew_ms_max`]).
    /// `actors_refused`: the nodes whose Automerge actors `origin` may not write
    /// under (from a child: this node and the other children's subtrees; see
    /// `doc::admit`); a document with such a change is refused whole.
    /// `traces`: per document, the trace contexts its entries carried (see
    /// [`crate::trace`]); the entry logged here carries them on.
    Changes {
        origin: NodeId,
        actors_refused: BTreeSet<String>,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        traces: Traces,
        meta: Vec<(String, Vec<u8>)>,
        now_ms: u64,
    },
    /// A step of Automerge's sync protocol with `peer` on one document: receive its
    /// message, or (`None`) start over. Answered by [`Effect::Sync`].
    /// The message's changes are bounded in time and checked as in [`Event::Changes`].
    Sync { peer: NodeId, actors_refused: BTreeSet<String>, doc: DocId, message: Option<Vec<u8>>, now_ms: u64 },
    /// Named values of the runtime (a child's subtree, the list of children, children
    /// that left), persisted as they are in one batch, with no document, log entry or
    /// view. Unlike a link's checkpoint in [`Event::Changes`] they are never held back.
    Meta { entries: Vec<(String, Vec<u8>)> },
    /// Drops the documents of owners this node no longer serves (a community moved
    /// to another street): they leave the views, the cache and the store; the named
    /// values in `meta` (the checkpoints and subtrees of the children that left) are
    /// deleted in the same batch.
    Forget { owners: BTreeSet<String>, meta: Vec<String> },
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
    /// done ([`crate::Error::NotOwner`]). Everything goes in one batch with the view updates.
    /// Running it again moves only records that were not moved yet: records written
    /// to `from` after the split, or that reached this node after it, are not moved
    /// until it runs again. Answered by [`Effect::Split`].
    Split { rule: SplitRule, now_ms: u64 },
    /// Time passes: background work (compaction), bounded per tick.
    Tick { now_ms: u64 },
    /// A peer acknowledged entries of log `stale` that this store holds otherwise
    /// (restored from an older backup, see [`crate::link::Action::RenewLog`]): the
    /// log takes a new identity, persisted at once, unless it already did. Answered
    /// by [`Effect::LogRenewed`].
    RenewLog { stale: String },
    /// Drop log entries through `through`: every peer durably holds them, or stayed
    /// away past the retention bound ([`crate::link::trim_through`] decides). The
    /// log's last entry always stays. Answered by a [`Effect::Persist`] alone.
    TrimLog { through: u64 },
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
    /// `waiting`: the document holds peers' changes that wait for their dependencies
    /// (stored with the batch), or some were refused at the bound, or it is
    /// quarantined and not repaired yet: the link syncs it with the peer, which holds
    /// everything they depend on.
    Applied { doc: DocId, result: Result<usize>, waiting: bool },
    /// The sync message to send `peer` next for `doc` (`None`: nothing is due), and
    /// how many changes its message brought.
    Sync { peer: NodeId, doc: DocId, reply: Option<Vec<u8>>, result: Result<usize> },
    /// The log's identity after an [`Event::RenewLog`], for the runtime's Hellos.
    LogRenewed { log_id: String },
    /// Documents whose stored bytes could not be read, loaded as far as they read and
    /// made whole on disk by the preceding persist (see `replica::quarantine`): every
    /// link session syncs them with its peer where the link shares them
    /// ([`crate::link::Session::on_quarantined`]). Also listed by
    /// [`crate::replica::quarantined`] until repaired, for sessions that start later.
    Quarantined { docs: Vec<DocId> },
}
