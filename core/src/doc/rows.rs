//! A record's view row: read from the document, or derived from a local write.
//!
//! Three paths, which must agree exactly (the views are checked against a recount):
//! read from the document (at load); a local write's plan laid over the old row (a
//! local write applies exactly its values); a peer's changes as Automerge's patches
//! laid over the old row (patches carry the merged values).
//!
//! A record a split moved away ([`super::MOVED_TO`] set) has no row on any path.

use super::{DocOp, Plan};
use crate::schema::Schema;
use crate::value::Value;
use crate::views::Row;
use automerge::{PatchAction, Prop, ScalarValue, Value as AmValue};

/// The row of a record whose fields `read` returns.
pub fn read_row(schema: &Schema, read: impl Fn(&str) -> Option<Value>) -> Row {
    let text = |field: &str| read(field).and_then(|v| v.as_str().map(str::to_string));
    Row {
        status: schema.status.as_ref().map(|m| text(&m.field).unwrap_or_else(|| m.initial.clone())),
        category: schema.views.count_by.as_deref().and_then(text),
        sums: schema.views.sums.iter().map(|f| read(f).and_then(|v| v.as_i64()).unwrap_or(0)).collect(),
        deadline_ms: schema.views.deadline.as_deref().and_then(&read).and_then(|v| v.as_i64()),
        times_ms: schema.views.times.iter().map(|f| read(f).and_then(|v| v.as_i64())).collect(),
        group: schema.views.sums_by.as_deref().and_then(text),
    }
}

/// The row of a record that has no fields yet.
pub fn empty_row(schema: &Schema) -> Row {
    Row {
        status: schema.status.as_ref().map(|m| m.initial.clone()),
        category: None,
        sums: vec![0; schema.views.sums.len()],
        deadline_ms: None,
        times_ms: vec![None; schema.views.times.len()],
        group: None,
    }
}

/// Whether a record's patches leave it moved by a split ([`super::MOVED_TO`] set to a
/// string), or not; `None` when they don't touch it. The last patch is the merged value.
pub fn moved_after(actions: &[PatchAction]) -> Option<bool> {
    actions.iter().rev().find_map(|action| match action {
        PatchAction::PutMap { key, value: (AmValue::Scalar(value), _), .. } if key == super::MOVED_TO => {
            Some(matches!(value.as_ref(), ScalarValue::Str(_)))
        }
        PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } if key == super::MOVED_TO => Some(false),
        _ => None,
    })
}

/// Lays Automerge's patches on a record's own map over its row: a put sets a field
/// (the merged, winning value), a delete clears it, an increment adds to a counter.
pub fn row_patched(schema: &Schema, mut row: Row, actions: &[PatchAction]) -> Row {
    for action in actions {
        match action {
            PatchAction::PutMap { key, value: (AmValue::Scalar(value), _), .. } => {
                set_field(schema, &mut row, key, Some(value.as_ref()));
            }
            PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => set_field(schema, &mut row, key, None),
            PatchAction::Increment { prop: Prop::Map(key), value } => {
                if let Some(i) = schema.views.sums.iter().position(|f| f == key) {
                    row.sums[i] += value;
                }
            }
            _ => {}
        }
    }
    row
}

fn set_field(schema: &Schema, row: &mut Row, field: &str, value: Option<&ScalarValue>) {
    let text = || match value {
        Some(ScalarValue::Str(s)) => Some(s.to_string()),
        _ => None,
    };
    let number = || match value {
        Some(ScalarValue::Int(v) | ScalarValue::Timestamp(v)) => Some(*v),
        Some(ScalarValue::Counter(c)) => Some(i64::from(c)),
        _ => None,
    };
    if let Some(machine) = schema.status.as_ref().filter(|m| m.field == field) {
        row.status = Some(text().unwrap_or_else(|| machine.initial.clone()));
    }
    if schema.views.count_by.as_deref() == Some(field) {
        row.category = text();
    }
    if schema.views.deadline.as_deref() == Some(field) {
        row.deadline_ms = number();
    }
    if let Some(i) = schema.views.sums.iter().position(|f| f == field) {
        row.sums[i] = number().unwrap_or(0);
    }
    if let Some(i) = schema.views.time_index(field) {
        row.times_ms[i] = number();
    }
    if schema.views.sums_by.as_deref() == Some(field) {
        row.group = text();
    }
}

/// The row after `plan` is applied to a record whose row was `old` (none: a create).
pub fn row_after(schema: &Schema, old: Option<&Row>, plan: &Plan) -> Row {
    let mut row = old.cloned().unwrap_or_else(|| empty_row(schema));
    for op in &plan.ops {
        match op {
            DocOp::Put(field, value) => {
                if schema.status.as_ref().is_some_and(|m| m.field == *field) {
                    row.status = value.as_str().map(str::to_string);
                }
                if schema.views.count_by.as_deref() == Some(field) {
                    row.category = value.as_str().map(str::to_string);
                }
                if schema.views.deadline.as_deref() == Some(field) {
                    row.deadline_ms = value.as_i64();
                }
                if let Some(i) = schema.views.sums.iter().position(|f| f == field) {
                    row.sums[i] = value.as_i64().unwrap_or(0);
                }
                if let Some(i) = schema.views.time_index(field) {
                    row.times_ms[i] = value.as_i64();
                }
                if schema.views.sums_by.as_deref() == Some(field) {
                    row.group = value.as_str().map(str::to_string);
                }
            }
            DocOp::Add(field, delta) => {
                if let Some(i) = schema.views.sums.iter().position(|f| f == field) {
                    row.sums[i] += delta;
                }
            }
            DocOp::Claim(..) | DocOp::ClaimAs(..) => {}
        }
    }
    row
}
