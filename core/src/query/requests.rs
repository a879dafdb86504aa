//! Requests (诉求台账): open counts and lists, overdue ones, resolution times.

use super::window::{hists_in, periods};
use super::{Ctx, Filter, Names, Placement, Places, REQUESTS, community_of, limit};
use crate::error::Result;
use crate::views::hist::Dense;
use crate::views::{OpenEntry, OpenKey, Views};
use std::collections::{BTreeMap, BinaryHeap};

/// Stands for "all" in a dimension the answer is not grouped by.
pub const ALL: &str = "*";

/// Counts of requests by the chosen dimensions. Without a status filter only open
/// statuses count; with one, that status counts (open or not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Open {
    pub filter: Filter,
    pub by_street: bool,
    pub by_community: bool,
    pub by_category: bool,
    pub by_status: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCount {
    pub street: String,
    pub community: String,
    pub category: String,
    pub status: String,
    pub count: i64,
}

impl Open {
    pub fn answer(&self, views: &Views, ctx: &Ctx) -> Result<Vec<OpenCount>> {
        let schema = ctx.registries.get(REQUESTS)?;
        let is_open = |status: &str| schema.status.as_ref().is_some_and(|m| m.is_open(status));
        fn pick(yes: bool, value: &str) -> &str {
            if yes { value } else { ALL }
        }
        let mut places = Places::new(&self.filter, ctx.placement);
        // Borrowed keys: no allocation per entry, only per group.
        let mut groups: BTreeMap<(&str, &str, &str, &str), i64> = BTreeMap::new();
        for (key, count) in &views.counts {
            let counted = match &self.filter.status {
                Some(status) => *status == key.status,
                None => is_open(&key.status),
            };
            if key.registry != REQUESTS || !counted || !self.filter.category(&key.category) {
                continue;
            }
            let Some(street) = places.street(&key.community) else { continue };
            let group = (
                pick(self.by_street, street),
                pick(self.by_community, &key.community),
                pick(self.by_category, &key.category),
                pick(self.by_status, &key.status),
            );
            *groups.entry(group).or_default() += count;
        }
        Ok(groups
            .into_iter()
            .map(|((street, community, category, status), count)| OpenCount {
                street: street.into(),
                community: community.into(),
                category: category.into(),
                status: status.into(),
                count,
            })
            .collect())
    }
}

/// The open requests themselves, in record key order (so one community's are together),
/// a page at a time: `after` is the last record key of the previous page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenList {
    pub filter: Filter,
    pub limit: usize,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRecord {
    pub record: String,
    pub street: String,
    pub community: String,
    pub status: String,
    pub category: String,
    pub deadline_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenListAnswer {
    pub records: Vec<OpenRecord>,
    /// The `after` of the next page; `None` on the last.
    pub next_after: Option<String>,
}

impl OpenList {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<OpenListAnswer> {
        let limit = limit(self.limit)?;
        // One community's records are contiguous: start at it and stop past it.
        let prefix = self.filter.community.as_ref().map(|c| format!("{c}/"));
        let start = match (&self.after, &prefix) {
            (Some(after), Some(prefix)) if after < prefix => prefix.clone(),
            (Some(after), _) => format!("{after}\0"),
            (None, Some(prefix)) => prefix.clone(),
            (None, None) => String::new(),
        };
        let start = OpenKey { registry: REQUESTS.to_string(), record: start };
        let mut records = Vec::new();
        let mut next_after = None;
        for (key, entry) in views.open.range(start..) {
            if key.registry != REQUESTS || prefix.as_ref().is_some_and(|p| !key.record.starts_with(p.as_str())) {
                break;
            }
            let community = community_of(&key.record);
            if !self.filter.place(placement, community)
                || !self.filter.category(&entry.category)
                || !self.filter.status(&entry.status)
            {
                continue;
            }
            if records.len() == limit {
                next_after = records.last().map(|r: &OpenRecord| r.record.clone());
                break;
            }
            records.push(OpenRecord {
                record: key.record.clone(),
                street: placement.street(community).to_string(),
                community: community.to_string(),
                status: entry.status.clone(),
                category: entry.category.clone(),
                deadline_ms: entry.deadline_ms,
            });
        }
        Ok(OpenListAnswer { records, next_after })
    }
}

/// Open requests whose deadline is before `at_ms`, oldest deadline first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overdue {
    pub filter: Filter,
    pub at_ms: i64,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueRecord {
    pub record: String,
    pub street: String,
    pub community: String,
    pub status: String,
    pub category: String,
    pub deadline_ms: i64,
    /// How long past its deadline at `at_ms`.
    pub overdue_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverdueAnswer {
    /// All overdue requests that match, listed or not.
    pub total: u64,
    /// The oldest `limit` of them.
    pub records: Vec<OverdueRecord>,
}

/// The open requests of the communities in scope (all when `None`), in record order.
pub fn open_requests<'a>(
    views: &'a Views,
    communities: Option<Vec<&'a str>>,
) -> Box<dyn Iterator<Item = (&'a OpenKey, &'a OpenEntry)> + 'a> {
    let from = |start: String| OpenKey { registry: REQUESTS.to_string(), record: start };
    match communities {
        None => Box::new(views.open.range(from(String::new())..).take_while(|(k, _)| k.registry == REQUESTS)),
        Some(communities) => Box::new(communities.into_iter().flat_map(move |community| {
            let prefix = format!("{community}/");
            views
                .open
                .range(from(prefix.clone())..)
                .take_while(move |(k, _)| k.registry == REQUESTS && k.record.starts_with(prefix.as_str()))
        })),
    }
}

impl Overdue {
    /// Reads the open list (which holds each open request's deadline, status and
    /// category inline) of the communities in scope: one pass, no lookups, the oldest
    /// `limit` kept in a bounded heap.
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<OverdueAnswer> {
        let limit = limit(self.limit)?;
        let places = Places::new(&self.filter, placement);
        let mut total = 0;
        // A max-heap of the `limit` oldest (deadline, record) seen so far.
        let mut oldest: BinaryHeap<(i64, &str)> = BinaryHeap::with_capacity(limit + 1);
        let mut entries: BTreeMap<&str, &OpenEntry> = BTreeMap::new();
        for (key, entry) in open_requests(views, places.communities()) {
            let Some(deadline_ms) = entry.deadline_ms.filter(|d| *d < self.at_ms) else { continue };
            if !self.filter.category(&entry.category) || !self.filter.status(&entry.status) {
                continue;
            }
            total += 1;
            let candidate = (deadline_ms, key.record.as_str());
            if oldest.len() < limit {
                oldest.push(candidate);
                entries.insert(candidate.1, entry);
            } else if oldest.peek().is_some_and(|top| *top > candidate) {
                if let Some((_, dropped)) = oldest.pop() {
                    entries.remove(dropped);
                }
                oldest.push(candidate);
                entries.insert(candidate.1, entry);
            }
        }
        let records = oldest
            .into_sorted_vec()
            .into_iter()
            .filter_map(|(deadline_ms, record)| {
                let entry = entries.get(record)?;
                let community = community_of(record);
                Some(OverdueRecord {
                    record: record.to_string(),
                    street: placement.street(community).to_string(),
                    community: community.to_string(),
                    status: entry.status.clone(),
                    category: entry.category.clone(),
                    deadline_ms,
                    overdue_ms: self.at_ms - deadline_ms,
                })
            })
            .collect();
        Ok(OverdueAnswer { total, records })
    }
}

/// Resolution time (reported to resolved) of the requests resolved in the window (the
/// days, in Shenzhen, of `from_ms` through `to_ms`), by street and category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    pub filter: Filter,
    pub from_ms: i64,
    pub to_ms: i64,
    pub by_street: bool,
    pub by_category: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionRow {
    pub street: String,
    pub category: String,
    pub resolved: i64,
    /// Upper bounds of the histogram buckets that hold each percentile.
    pub p50_ms: i64,
    pub p90_ms: i64,
    pub p99_ms: i64,
}

pub const RESOLUTION: &str = "resolution";

impl Resolution {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<Vec<ResolutionRow>> {
        self.filter.refuse_status("resolution")?;
        let mut places = Places::new(&self.filter, placement);
        // Groups numbered by name, dense sums: no allocation or key search per histogram.
        let (mut streets, mut categories) = (Names::default(), Names::default());
        let mut groups: BTreeMap<(usize, usize), Dense> = BTreeMap::new();
        let periods = periods(self.from_ms, self.to_ms)?;
        for period in &periods {
            for (key, hist) in hists_in(views, REQUESTS, RESOLUTION, period) {
                if !self.filter.category(&key.category) {
                    continue;
                }
                let Some(street) = places.street(&key.community) else { continue };
                let street = streets.id(if self.by_street { street } else { ALL });
                let category = categories.id(if self.by_category { key.category.as_str() } else { ALL });
                groups.entry((street, category)).or_default().merge(hist);
            }
        }
        let mut rows: Vec<ResolutionRow> = groups
            .into_iter()
            .filter_map(|((street, category), hist)| row(streets.name(street), categories.name(category), &hist))
            .collect();
        rows.sort_by(|a, b| (&a.street, &a.category).cmp(&(&b.street, &b.category)));
        Ok(rows)
    }
}

fn row(street: &str, category: &str, hist: &Dense) -> Option<ResolutionRow> {
    Some(ResolutionRow {
        street: street.into(),
        category: category.into(),
        resolved: hist.total(),
        p50_ms: hist.quantile_ms(0.50)?,
        p90_ms: hist.quantile_ms(0.90)?,
        p99_ms: hist.quantile_ms(0.99)?,
    })
}
