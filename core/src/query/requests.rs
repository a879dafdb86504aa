//! Requests (诉求台账): open counts and lists, overdue ones, resolution times.

use super::window::{hists_in, periods};
use super::{Ctx, Filter, Placement, REQUESTS, community_of, limit, registry_of};
use crate::error::Result;
use crate::views::{Hist, OpenKey, Views};
use std::collections::BTreeMap;

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
        let pick = |yes: bool, value: &str| if yes { value.to_string() } else { ALL.to_string() };
        let mut groups: BTreeMap<(String, String, String, String), i64> = BTreeMap::new();
        for (key, count) in &views.counts {
            let counted = match &self.filter.status {
                Some(status) => *status == key.status,
                None => is_open(&key.status),
            };
            if key.registry != REQUESTS
                || !counted
                || !self.filter.category(&key.category)
                || !self.filter.place(ctx.placement, &key.community)
            {
                continue;
            }
            let street = ctx.placement.street(&key.community);
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
                street,
                community,
                category,
                status,
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

impl Overdue {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<OverdueAnswer> {
        let limit = limit(self.limit)?;
        let by_entry = self.filter.category.is_some() || self.filter.status.is_some();
        let mut total = 0;
        let mut records = Vec::new();
        for (deadline_ms, record) in views.open_by_deadline.range(..(self.at_ms, String::new())) {
            if registry_of(record) != REQUESTS {
                continue;
            }
            let community = community_of(record);
            if !self.filter.place(placement, community) {
                continue;
            }
            // Status and category live in the open list: look them up only when needed.
            let lookup = || views.open.get(&OpenKey { registry: REQUESTS.to_string(), record: record.clone() });
            let entry = if by_entry || records.len() < limit { lookup() } else { None };
            if by_entry {
                let Some(entry) = entry else { continue };
                if !self.filter.category(&entry.category) || !self.filter.status(&entry.status) {
                    continue;
                }
            }
            total += 1;
            if records.len() < limit {
                let (status, category) = entry.map(|e| (e.status.clone(), e.category.clone())).unwrap_or_default();
                records.push(OverdueRecord {
                    record: record.clone(),
                    street: placement.street(community).to_string(),
                    community: community.to_string(),
                    status,
                    category,
                    deadline_ms: *deadline_ms,
                    overdue_ms: self.at_ms - deadline_ms,
                });
            }
        }
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
        let mut groups: BTreeMap<(String, String), Hist> = BTreeMap::new();
        for period in periods(self.from_ms, self.to_ms)? {
            for (key, hist) in hists_in(views, REQUESTS, RESOLUTION, &period) {
                if !self.filter.place(placement, &key.community) || !self.filter.category(&key.category) {
                    continue;
                }
                let street = if self.by_street { placement.street(&key.community) } else { ALL };
                let category = if self.by_category { key.category.as_str() } else { ALL };
                groups.entry((street.to_string(), category.to_string())).or_default().merge(hist);
            }
        }
        Ok(groups.into_iter().filter_map(|((street, category), hist)| row(street, category, &hist)).collect())
    }
}

fn row(street: String, category: String, hist: &Hist) -> Option<ResolutionRow> {
    Some(ResolutionRow {
        street,
        category,
        resolved: hist.total(),
        p50_ms: hist.quantile_ms(0.50)?,
        p90_ms: hist.quantile_ms(0.90)?,
        p99_ms: hist.quantile_ms(0.99)?,
    })
}
