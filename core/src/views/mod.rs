//! Materialized aggregates of the registries a replica holds.
//!
//! - counts by (community, registry, status, category),
//! - sums by (community, registry, field, period), the period being the document's
//!   shard (hours by month, budgets by year),
//! - the open records of registries with a deadline, ordered by deadline.
//!
//! Each record contributes one [`Row`]; when a change touches a record, the view takes
//! away its old row and adds the new one, and the touched entries are written to the
//! store in the same batch as the change. [`Views::rebuild`] recounts from the
//! documents; the two must always be equal.

mod codec;

use crate::error::Result;
use crate::ids::DocId;
use crate::schema::Schema;
use std::collections::{BTreeMap, BTreeSet};

pub use codec::ViewWrite;

/// What one record contributes to the views.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    pub status: Option<String>,
    pub category: Option<String>,
    /// One value per field of the schema's `views.sums`, in order.
    pub sums: Vec<i64>,
    /// The deadline field's value; indexed only while the status is open.
    pub deadline_ms: Option<i64>,
}

/// Key parts that stand for "none" (a registry without status or category).
pub const NONE: &str = "-";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountKey {
    pub community: String,
    pub registry: String,
    pub status: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SumKey {
    pub community: String,
    pub registry: String,
    pub field: String,
    pub period: String,
}

/// An open record in the deadline index: (deadline, record key).
pub type DeadlineKey = (i64, String);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Views {
    pub counts: BTreeMap<CountKey, i64>,
    pub sums: BTreeMap<SumKey, i64>,
    pub open_by_deadline: BTreeSet<DeadlineKey>,
}

/// Entries changed since the last [`Views::take_writes`].
#[derive(Debug, Default)]
pub struct Dirty {
    counts: BTreeSet<CountKey>,
    sums: BTreeSet<SumKey>,
    deadlines: BTreeSet<DeadlineKey>,
}

impl Views {
    /// Moves `record` of `doc` from its `old` row to its `new` one.
    pub fn update(
        &mut self,
        schema: &Schema,
        doc: &DocId,
        record: &str,
        old: Option<&Row>,
        new: Option<&Row>,
        dirty: &mut Dirty,
    ) {
        if let Some(row) = old {
            self.add_row(schema, doc, record, row, -1, dirty);
        }
        if let Some(row) = new {
            self.add_row(schema, doc, record, row, 1, dirty);
        }
    }

    fn add_row(&mut self, schema: &Schema, doc: &DocId, record: &str, row: &Row, sign: i64, dirty: &mut Dirty) {
        let count_key = CountKey {
            community: doc.owner.clone(),
            registry: doc.registry.clone(),
            status: row.status.clone().unwrap_or_else(|| NONE.into()),
            category: row.category.clone().unwrap_or_else(|| NONE.into()),
        };
        add(&mut self.counts, count_key.clone(), sign);
        dirty.counts.insert(count_key);
        for (field, value) in schema.views.sums.iter().zip(&row.sums) {
            if *value == 0 {
                continue;
            }
            let sum_key = SumKey {
                community: doc.owner.clone(),
                registry: doc.registry.clone(),
                field: field.clone(),
                period: doc.shard.clone(),
            };
            add(&mut self.sums, sum_key.clone(), sign * value);
            dirty.sums.insert(sum_key);
        }
        let open = schema.status.as_ref().zip(row.status.as_ref()).is_some_and(|(m, s)| m.is_open(s));
        if let Some(deadline_ms) = row.deadline_ms.filter(|_| open) {
            let key = (deadline_ms, format!("{doc}/{record}"));
            if sign > 0 {
                self.open_by_deadline.insert(key.clone());
            } else {
                self.open_by_deadline.remove(&key);
            }
            dirty.deadlines.insert(key);
        }
    }

    /// The store writes that bring the persisted views to the current state.
    pub fn take_writes(&self, dirty: &mut Dirty) -> Vec<ViewWrite> {
        let mut writes = Vec::new();
        for key in std::mem::take(&mut dirty.counts) {
            let value = self.counts.get(&key).copied();
            writes.push(codec::count_write(&key, value));
        }
        for key in std::mem::take(&mut dirty.sums) {
            let value = self.sums.get(&key).copied();
            writes.push(codec::sum_write(&key, value));
        }
        for key in std::mem::take(&mut dirty.deadlines) {
            writes.push(codec::deadline_write(&key, self.open_by_deadline.contains(&key)));
        }
        writes
    }

    /// Rebuilds the views from stored entries, as written by [`Views::take_writes`].
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Result<Self> {
        let mut views = Views::default();
        for (key, value) in entries {
            codec::decode_into(&mut views, key, value)?;
        }
        Ok(views)
    }

    /// Recounts from rows of documents: `(schema, doc, record, row)`.
    pub fn rebuild<'a>(rows: impl IntoIterator<Item = (&'a Schema, &'a DocId, &'a str, &'a Row)>) -> Self {
        let mut views = Views::default();
        let mut dirty = Dirty::default();
        for (schema, doc, record, row) in rows {
            views.add_row(schema, doc, record, row, 1, &mut dirty);
        }
        views
    }
}

fn add<K: Ord>(map: &mut BTreeMap<K, i64>, key: K, delta: i64) {
    use std::collections::btree_map::Entry;
    match map.entry(key) {
        Entry::Occupied(mut entry) => {
            *entry.get_mut() += delta;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
        Entry::Vacant(entry) => {
            entry.insert(delta);
        }
    }
}
