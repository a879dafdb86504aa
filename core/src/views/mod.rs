//! Materialized aggregates of the registries a replica holds.
//!
//! - counts by (community, registry, status, category),
//! - sums by (community, registry, field, period), the period being the document's
//!   shard (hours by month, budgets by year),
//! - the open records of registries with a deadline, ordered by deadline,
//! - histograms of durations (reported -> resolved) by (registry, duration, period,
//!   community, category), each record counted six times: in the year, the quarter,
//!   the month, the week and the day (in Shenzhen) of its end, and over all time; a
//!   window is answered from the largest whole periods that fit, then days at its edges
//!   ([`hist`] has the buckets),
//! - sums by (community, registry, field, period, group), the group a field's value (a
//!   volunteer's team),
//! - the open records by (registry, record key) with their status, category and
//!   deadline, for drill-down and to enrich the deadline index,
//! - every record of a registry by a timestamp (a site's last report).
//!
//! Bounds: every view is bounded by the records it reflects; the histograms hold at
//! most one entry per (community, category) and day, week, month, quarter, year, and
//! over all time,
//! with at most [`hist::BUCKETS`] buckets each, and most hold a few.
//!
//! Each record contributes one [`Row`]; when a change touches a record, the view takes
//! away its old row and adds the new one, and the touched entries are written to the
//! store in the same batch as the change. [`Views::rebuild`] recounts from the
//! documents; the two must always be equal.

mod codec;
pub mod hist;

use crate::error::Result;
use crate::ids::DocId;
use crate::schema::calendar::{cst_day, day_name, month_name, quarter_name, week_name, year_name};
use crate::schema::{GROUP_COUNT, Schema};
use std::collections::{BTreeMap, BTreeSet};

pub use codec::ViewWrite;
pub use hist::Hist;

/// What one record contributes to the views.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Row {
    pub status: Option<String>,
    pub category: Option<String>,
    /// One value per field of the schema's `views.sums`, in order.
    pub sums: Vec<i64>,
    /// The deadline field's value; indexed only while the status is open.
    pub deadline_ms: Option<i64>,
    /// One value per field of the schema's `views.times` (durations' ends, last seen).
    pub times_ms: Vec<Option<i64>>,
    /// The `views.sums_by` field's value.
    pub group: Option<String>,
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

/// The period of the histograms over all time.
pub const ALL_TIME: &str = "all";

/// An open record in the deadline index: (deadline, record key).
pub type DeadlineKey = (i64, String);

/// A histogram of one duration. `period` is a year (`2026`), a quarter (`2026-Q4`), a
/// month (`2026-11`), a week (`w2932`), a day (`2026-11-22`) in Shenzhen, or
/// [`ALL_TIME`]; one period's keys are contiguous.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HistKey {
    pub registry: String,
    pub duration: String,
    pub period: String,
    pub community: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupSumKey {
    pub community: String,
    pub registry: String,
    pub field: String,
    pub period: String,
    /// The `sums_by` value (`-` when absent).
    pub group: String,
}

/// An open record listed for drill-down (`record` is the record key, which starts with
/// the community: one community's records are contiguous).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpenKey {
    pub registry: String,
    pub record: String,
}

/// What the open list keeps of a record, to filter and show it without documents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenEntry {
    pub status: String,
    pub category: String,
    pub deadline_ms: Option<i64>,
}

/// A record by its `last_seen` time (`i64::MIN` when it has none): (ms, record key).
pub type SeenKey = (i64, String);

/// What the last-seen index keeps of a record, to filter without documents.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seen {
    pub status: String,
    pub category: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Views {
    pub counts: BTreeMap<CountKey, i64>,
    pub sums: BTreeMap<SumKey, i64>,
    pub open_by_deadline: BTreeSet<DeadlineKey>,
    pub durations: BTreeMap<HistKey, Hist>,
    pub group_sums: BTreeMap<GroupSumKey, i64>,
    pub open: BTreeMap<OpenKey, OpenEntry>,
    pub last_seen: BTreeMap<SeenKey, Seen>,
}

/// Entries changed since the last [`Views::take_writes`].
#[derive(Debug, Default)]
pub struct Dirty {
    counts: BTreeSet<CountKey>,
    sums: BTreeSet<SumKey>,
    deadlines: BTreeSet<DeadlineKey>,
    hists: BTreeSet<(HistKey, u16)>,
    group_sums: BTreeSet<GroupSumKey>,
    open: BTreeSet<OpenKey>,
    seen: BTreeSet<SeenKey>,
}

/// The views by name, as [`Views::entries`] counts them.
pub const VIEW_NAMES: [&str; 7] = ["counts", "sums", "deadlines", "durations", "group_sums", "open", "last_seen"];

impl Views {
    /// Entries of each view, in the order of [`VIEW_NAMES`]: what the views hold in
    /// memory grows with these (a few hundred bytes an entry, keys included).
    pub fn entries(&self) -> [usize; VIEW_NAMES.len()] {
        [
            self.counts.len(),
            self.sums.len(),
            self.open_by_deadline.len(),
            self.durations.len(),
            self.group_sums.len(),
            self.open.len(),
            self.last_seen.len(),
        ]
    }

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
        self.add_extras(schema, doc, record, row, open, sign, dirty);
    }

    /// The views beyond counts, sums and deadlines.
    #[allow(clippy::too_many_arguments)]
    fn add_extras(
        &mut self,
        schema: &Schema,
        doc: &DocId,
        record: &str,
        row: &Row,
        open: bool,
        sign: i64,
        dirty: &mut Dirty,
    ) {
        let spec = &schema.views;
        let category = || row.category.clone().unwrap_or_else(|| NONE.into());
        let time = |field: &str| spec.time_index(field).and_then(|i| row.times_ms.get(i).copied().flatten());
        for duration in &spec.durations {
            let (Some(from), Some(to)) = (time(&duration.from), time(&duration.to)) else { continue };
            let bucket = hist::bucket_of(to.saturating_sub(from));
            let day = cst_day(to);
            let periods = [
                ALL_TIME.to_string(),
                year_name(day),
                quarter_name(day),
                month_name(day),
                week_name(day),
                day_name(day),
            ];
            for period in periods {
                let key = HistKey {
                    registry: doc.registry.clone(),
                    duration: duration.name.clone(),
                    period,
                    community: doc.owner.clone(),
                    category: category(),
                };
                let hist = self.durations.entry(key.clone()).or_default();
                hist.add(bucket, sign);
                if hist.is_empty() {
                    self.durations.remove(&key);
                }
                dirty.hists.insert((key, bucket));
            }
        }
        if spec.sums_by.is_some() {
            let group = row.group.clone().unwrap_or_else(|| NONE.into());
            let counted = spec.count_groups.then_some((GROUP_COUNT, &1));
            for (field, value) in spec.sums.iter().map(String::as_str).zip(&row.sums).chain(counted) {
                if *value == 0 {
                    continue;
                }
                let key = GroupSumKey {
                    community: doc.owner.clone(),
                    registry: doc.registry.clone(),
                    field: field.to_string(),
                    period: doc.shard.clone(),
                    group: group.clone(),
                };
                add(&mut self.group_sums, key.clone(), sign * value);
                dirty.group_sums.insert(key);
            }
        }
        let status = || row.status.clone().unwrap_or_else(|| NONE.into());
        if spec.list_open && open {
            let key = OpenKey { registry: doc.registry.clone(), record: format!("{doc}/{record}") };
            if sign > 0 {
                let entry = OpenEntry { status: status(), category: category(), deadline_ms: row.deadline_ms };
                self.open.insert(key.clone(), entry);
            } else {
                self.open.remove(&key);
            }
            dirty.open.insert(key);
        }
        if let Some(field) = &spec.last_seen {
            let key = (time(field).unwrap_or(i64::MIN), format!("{doc}/{record}"));
            if sign > 0 {
                self.last_seen.insert(key.clone(), Seen { status: status(), category: category() });
            } else {
                self.last_seen.remove(&key);
            }
            dirty.seen.insert(key);
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
        for (key, bucket) in std::mem::take(&mut dirty.hists) {
            let count = self.durations.get(&key).map(|h| h.get(bucket)).filter(|n| *n != 0);
            writes.push(codec::hist_write(&key, bucket, count));
        }
        for key in std::mem::take(&mut dirty.group_sums) {
            writes.push(codec::group_sum_write(&key, self.group_sums.get(&key).copied()));
        }
        for key in std::mem::take(&mut dirty.open) {
            writes.push(codec::open_write(&key, self.open.get(&key)));
        }
        for key in std::mem::take(&mut dirty.seen) {
            writes.push(codec::seen_write(&key, self.last_seen.get(&key)));
        }
        writes
    }

    /// The store writes that replace the stored `self` with `new` wholesale (a
    /// recount): every entry of either, at its value in `new`, so entries only `self`
    /// holds are deleted.
    pub fn writes_to(&self, new: &Views) -> Vec<ViewWrite> {
        let mut dirty = Dirty::default();
        self.mark_all(&mut dirty);
        new.mark_all(&mut dirty);
        new.take_writes(&mut dirty)
    }

    fn mark_all(&self, dirty: &mut Dirty) {
        dirty.counts.extend(self.counts.keys().cloned());
        dirty.sums.extend(self.sums.keys().cloned());
        dirty.deadlines.extend(self.open_by_deadline.iter().cloned());
        for (key, hist) in &self.durations {
            dirty.hists.extend(hist.buckets().map(|(bucket, _)| (key.clone(), bucket)));
        }
        dirty.group_sums.extend(self.group_sums.keys().cloned());
        dirty.open.extend(self.open.keys().cloned());
        dirty.seen.extend(self.last_seen.keys().cloned());
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
        Self::rebuild_with_writes(rows).0
    }

    /// [`Self::rebuild`], with the writes that store every entry of the recount.
    pub fn rebuild_with_writes<'a>(
        rows: impl IntoIterator<Item = (&'a Schema, &'a DocId, &'a str, &'a Row)>,
    ) -> (Self, Vec<ViewWrite>) {
        let mut views = Views::default();
        let mut dirty = Dirty::default();
        for (schema, doc, record, row) in rows {
            views.add_row(schema, doc, record, row, 1, &mut dirty);
        }
        let writes = views.take_writes(&mut dirty);
        (views, writes)
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
