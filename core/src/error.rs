//! The one error type of `linli-core`.
//!
//! Every variant says what went wrong and where: the schema file and field, or the
//! record and field of a refused write, or the storage key that could not be read.

use std::fmt;

/// Why a write was refused. Carried by [`Error::Invalid`], which also names the record
/// and the field, so that a test or an operator can see exactly what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    UnknownField,
    WrongType {
        expected: &'static str,
        got: String,
    },
    MissingRequired,
    NotInEnum {
        value: String,
        allowed: Vec<String>,
    },
    IllegalTransition {
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    StringTooLong {
        chars: usize,
        chars_max: usize,
    },
    ListTooLong {
        items: usize,
        items_max: usize,
    },
    RecordTooLarge {
        bytes: usize,
        bytes_max: usize,
    },
    OutOfRange {
        value: i64,
        min: i64,
        max: i64,
    },
    /// A counter only adds up: increments must be positive.
    CounterNotPositive {
        delta: i64,
    },
    /// The field cannot be written with this operation (a counter set directly, a
    /// claim set as a plain value, the status field on a registry without one...).
    WrongOperation {
        field_type: &'static str,
        operation: &'static str,
    },
    /// Status fields move only through their own machine; a create starts at `initial`.
    StatusOnCreate {
        initial: String,
        got: String,
    },
    /// `moved_to` and `split_from` are set by a split only.
    SystemField,
    /// The record was moved to another community by a split: it is history here, and
    /// its copy `to` takes the writes.
    Moved {
        to: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownField => write!(f, "unknown field"),
            Problem::WrongType { expected, got } => write!(f, "expected {expected}, got {got}"),
            Problem::MissingRequired => write!(f, "required field is missing"),
            Problem::NotInEnum { value, allowed } => {
                write!(f, "`{value}` is not one of [{}]", allowed.join(", "))
            }
            Problem::IllegalTransition { from, to, allowed } => write!(
                f,
                "status cannot move from `{from}` to `{to}` (allowed from `{from}`: [{}])",
                allowed.join(", ")
            ),
            Problem::StringTooLong { chars, chars_max } => {
                write!(f, "{chars} characters, more than the bound of {chars_max}")
            }
            Problem::ListTooLong { items, items_max } => {
                write!(f, "{items} items, more than the bound of {items_max}")
            }
            Problem::RecordTooLarge { bytes, bytes_max } => {
                write!(f, "record would be {bytes} bytes, more than the bound of {bytes_max}")
            }
            Problem::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside [{min}, {max}]")
            }
            Problem::CounterNotPositive { delta } => {
                write!(f, "counters only add up; increment {delta} is not positive")
            }
            Problem::WrongOperation { field_type, operation } => {
                write!(f, "a {field_type} field cannot be written with `{operation}`")
            }
            Problem::StatusOnCreate { initial, got } => {
                write!(f, "a new record starts at `{initial}`, not `{got}`")
            }
            Problem::SystemField => write!(f, "set by a split only; a write cannot name it"),
            Problem::Moved { to } => {
                write!(f, "a split moved this record to {to}; it is kept here as history, write to {to}")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A registry schema file is malformed. Raised at load, never at run time.
    #[error("schema file {file}: registry `{registry}`, field `{field}`: {problem}")]
    Schema { file: String, registry: String, field: String, problem: String },

    /// A write was refused by validation; nothing of it was applied.
    #[error("record {record}, field `{field}`: {problem}")]
    Invalid { record: String, field: String, problem: Problem },

    /// A write names a document this node may not originate changes for.
    #[error("record {record}: node `{node}` may not write to document {doc}")]
    NotOwner { record: String, doc: String, node: String },

    #[error("record {record}: not found")]
    RecordNotFound { record: String },

    #[error("registry `{registry}` is not declared (known: [{known}])")]
    UnknownRegistry { registry: String, known: String },

    /// A query that can't be answered as asked; names the argument at fault.
    #[error("query, `{field}`: {reason}")]
    Query { field: &'static str, reason: String },

    /// A split that cannot run as asked; `field` names the input at fault.
    #[error("split, `{field}`: {reason}")]
    Split { field: &'static str, reason: String },

    /// A document id, record key or node id that does not parse.
    #[error("bad {what} `{input}`: {reason}")]
    BadId { what: &'static str, input: String, reason: &'static str },

    /// Changes from a peer that Automerge could not decode or apply.
    #[error("document {doc}: changes refused by Automerge: {source}")]
    Changes { doc: String, source: Box<automerge::AutomergeError> },

    /// Automerge refused a validated write; the document's whole open transaction was
    /// dropped, so every write to it in the same batch fails with this.
    #[error("document {doc}: the batch's writes to it were rolled back: {cause}")]
    RolledBack { doc: String, cause: String },

    /// A peer's change made later than this node's clock plus the configured maximum
    /// skew: the sender's clock runs ahead. Taken, it would move this node's clock (and
    /// the shard of every record it creates) past the present for good. Refused.
    #[error(
        "document {doc}: a change made at {change_ms} ms is later than this node's clock allows \
         ({time_ms_max} ms: now plus `link.clock_skew_ms_max`); the sender's clock runs ahead"
    )]
    ClockAhead { doc: String, change_ms: i64, time_ms_max: i64 },

    /// A peer's changes to a document break a rule of what a peer may write (see
    /// `doc::admit`): an actor it may not write under, a field the schema does not
    /// declare or declares personal, a value of the wrong type, an edit outside the
    /// records, a shard its registry never makes. Refused whole for the document; the
    /// rest of the batch applies.
    #[error("document {doc}: refused: {rule}")]
    Inadmissible { doc: String, rule: String },

    /// A peer's changes would hold more bytes waiting for their dependencies than the
    /// bound allows ([`crate::replica::WAITING_BYTES_MAX`]); refused, they stay at the
    /// peer, and the sync of the document brings them with what they wait for.
    #[error(
        "document {doc}: {bytes} bytes of changes would wait for their dependencies, past the bound of \
         {bytes_max}; refused until the document's sync brings what they wait for"
    )]
    WaitingFull { doc: String, bytes: usize, bytes_max: usize },

    #[error("document {doc}: Automerge: {source}")]
    Automerge { doc: String, source: Box<automerge::AutomergeError> },

    /// Bytes on disk that do not decode: a torn or foreign file.
    #[error("corrupt {what} at key {key}: {reason}")]
    Corrupt { what: &'static str, key: String, reason: String },

    /// A reader of the log asked for entries after `after`, and the log was trimmed
    /// past it: its first entry is `first`. A link's session ends on it; the next
    /// Hellos see the peer's checkpoint below the trimmed point and repair.
    #[error("the log was trimmed past {after}: its first entry is {first}; the peer is repaired instead")]
    LogTrimmed { after: u64, first: u64 },

    /// A link's peer broke the protocol (a second Hello, a batch out of order, an ack
    /// of what was never sent): the session ends and the link reconnects.
    #[error("link with `{peer}`: {reason}")]
    Link { peer: String, reason: String },

    /// The peer sent more than this node takes in one frame (entries, documents): the
    /// session ends, nothing of the frame is applied, and the link reconnects. An
    /// honest peer never does (its batches end below the same bounds).
    #[error("link with `{peer}`: {reason}")]
    LinkOverBound { peer: String, reason: String },

    /// Children that were below this node at its last start are missing from its
    /// config, and no one said they moved away: the node does not start, so a typo in
    /// a list of children cannot cost their documents.
    #[error(
        "children [{children}] were below this node at its last start and are not configured now; \
         their documents are kept. Add them back, or confirm that they moved away with `--forget {children}`"
    )]
    ChildrenMissing { children: String },

    /// A store failed to read or write (its disk, its database). Raised by a
    /// [`crate::store::Storage`] implementation outside core, e.g. RocksDB's: `op` says
    /// what it was doing, `source` why.
    #[error("storage, {op}: {source}")]
    Storage { op: String, source: Box<dyn std::error::Error + Send + Sync> },
}

impl Error {
    /// Whether the same input may succeed later: a store that failed to read, a
    /// registry this node does not know yet (a rolling upgrade). A link must not pass
    /// a peer's changes that failed so: it keeps its checkpoint before them and the
    /// peer sends them again. Every other error is a refusal for good.
    pub fn may_pass(&self) -> bool {
        matches!(self, Error::Storage { .. } | Error::UnknownRegistry { .. })
    }

    /// The error's kind, a short fixed name: what metrics label a refusal with (a
    /// label's values must be few, whatever a peer sends).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Schema { .. } => "schema",
            Error::Invalid { .. } => "invalid",
            Error::NotOwner { .. } => "not_owner",
            Error::RecordNotFound { .. } => "record_not_found",
            Error::UnknownRegistry { .. } => "unknown_registry",
            Error::Query { .. } => "query",
            Error::Split { .. } => "split",
            Error::BadId { .. } => "bad_id",
            Error::Changes { .. } => "changes",
            Error::RolledBack { .. } => "rolled_back",
            Error::ClockAhead { .. } => "clock_ahead",
            Error::Inadmissible { .. } => "inadmissible",
            Error::WaitingFull { .. } => "waiting_full",
            Error::Automerge { .. } => "automerge",
            Error::Corrupt { .. } => "corrupt",
            Error::LogTrimmed { .. } => "log_trimmed",
            Error::Link { .. } => "link",
            Error::LinkOverBound { .. } => "link_over_bound",
            Error::ChildrenMissing { .. } => "children_missing",
            Error::Storage { .. } => "storage",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
