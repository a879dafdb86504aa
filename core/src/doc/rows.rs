//! A record's view row: read from the document, or derived from a local write.
//!
//! Both paths must agree exactly (the views are checked against a recount): a local
//! write applies exactly its plan's values, so the row after it is the row before
//! with the plan laid over it.

use super::{DocOp, Plan};
use crate::schema::Schema;
use crate::value::Value;
use crate::views::Row;

/// The row of a record whose fields `read` returns.
pub fn read_row(schema: &Schema, read: impl Fn(&str) -> Option<Value>) -> Row {
    let text = |field: &str| read(field).and_then(|v| v.as_str().map(str::to_string));
    Row {
        status: schema.status.as_ref().map(|m| text(&m.field).unwrap_or_else(|| m.initial.clone())),
        category: schema.views.count_by.as_deref().and_then(text),
        sums: schema.views.sums.iter().map(|f| read(f).and_then(|v| v.as_i64()).unwrap_or(0)).collect(),
        deadline_ms: schema.views.deadline.as_deref().and_then(&read).and_then(|v| v.as_i64()),
    }
}

/// The row after `plan` is applied to a record whose row was `old` (none: a create).
pub fn row_after(schema: &Schema, old: Option<&Row>, plan: &Plan) -> Row {
    let mut row = old.cloned().unwrap_or_else(|| Row {
        status: schema.status.as_ref().map(|m| m.initial.clone()),
        category: None,
        sums: vec![0; schema.views.sums.len()],
        deadline_ms: None,
    });
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
            }
            DocOp::Add(field, delta) => {
                if let Some(i) = schema.views.sums.iter().position(|f| f == field) {
                    row.sums[i] += delta;
                }
            }
            DocOp::Claim(..) => {}
        }
    }
    row
}
