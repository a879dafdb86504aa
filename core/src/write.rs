//! What a client asks a replica to do: create a record or change one.
//!
//! Values arrive as JSON, as users send them; the replica checks each against the
//! registry's schema before anything is applied.

use crate::ids::RecordKey;
use crate::trace::TraceContext;
use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A new record in `owner`'s `registry`; its shard follows the registry's rule.
    Create {
        owner: String,
        registry: String,
    },
    Update(RecordKey),
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldOp {
    /// Set a field (also moves the status field along its machine).
    Set { field: String, value: Json },
    /// Add to a counter; only positive amounts.
    Add { field: String, delta: i64 },
    /// Claim a claim field for `by` (a task's acceptor).
    Claim { field: String, by: String },
}

impl FieldOp {
    pub fn field(&self) -> &str {
        match self {
            FieldOp::Set { field, .. } | FieldOp::Add { field, .. } | FieldOp::Claim { field, .. } => field,
        }
    }
    pub fn operation(&self) -> &'static str {
        match self {
            FieldOp::Set { .. } => "set",
            FieldOp::Add { .. } => "add",
            FieldOp::Claim { .. } => "claim",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub target: Target,
    pub ops: Vec<FieldOp>,
    /// The trace of the call that made the write, when it is traced: its log entry
    /// carries it to the tiers above (see [`crate::trace`]).
    pub trace: Option<TraceContext>,
}

impl Write {
    pub fn create(owner: &str, registry: &str, fields: &[(&str, Json)]) -> Self {
        Self {
            target: Target::Create { owner: owner.into(), registry: registry.into() },
            ops: fields.iter().map(|(f, v)| FieldOp::Set { field: (*f).into(), value: v.clone() }).collect(),
            trace: None,
        }
    }

    pub fn update(key: RecordKey, ops: Vec<FieldOp>) -> Self {
        Self { target: Target::Update(key), ops, trace: None }
    }

    pub fn set(key: RecordKey, fields: &[(&str, Json)]) -> Self {
        Self::update(key, fields.iter().map(|(f, v)| FieldOp::Set { field: (*f).into(), value: v.clone() }).collect())
    }
}
