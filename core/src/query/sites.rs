//! Service sites (党群服务阵地): by kind and status, and the ones gone silent.

use super::{Filter, Placement, SITES, community_of, limit, registry_of};
use crate::error::Result;
use crate::schema::GROUP_COUNT;
use crate::views::Views;
use std::collections::BTreeMap;

/// Sites are counted by kind and status; the silent ones are sites of `silent_kind`
/// (the V stations by default), not closed, whose last report is older than
/// `silent_ms` at `at_ms` (or that never reported), oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sites {
    pub filter: Filter,
    pub at_ms: i64,
    pub silent_ms: i64,
    pub silent_kind: String,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCount {
    pub kind: String,
    pub status: String,
    pub count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentSite {
    pub record: String,
    pub street: String,
    pub community: String,
    pub status: String,
    /// `None`: it never reported.
    pub last_report_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitesAnswer {
    pub counts: Vec<SiteCount>,
    /// All silent sites that match, listed or not.
    pub silent_total: u64,
    pub silent: Vec<SilentSite>,
}

/// Sites by colour class (the seven colours of Pingdi's service sites; `-` for a site
/// without one), where the place filter allows: `(colour, sites)`, in colour order.
/// Read from the group counts the `sites` registry keeps by its `sums_by` field.
pub fn colours(views: &Views, filter: &Filter, placement: &Placement) -> Vec<(String, i64)> {
    let mut by: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, count) in &views.group_sums {
        if key.registry == SITES && key.field == GROUP_COUNT && filter.place(placement, &key.community) {
            *by.entry(&key.group).or_default() += count;
        }
    }
    by.into_iter().filter(|(_, n)| *n != 0).map(|(colour, n)| (colour.to_string(), n)).collect()
}

/// A site that is closed is expected not to report.
const CLOSED: &str = "closed";

impl Sites {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<SitesAnswer> {
        let limit = limit(self.limit)?;
        let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (key, count) in &views.counts {
            if key.registry == SITES
                && self.filter.place(placement, &key.community)
                && self.filter.category(&key.category)
                && self.filter.status(&key.status)
            {
                *counts.entry((key.category.clone(), key.status.clone())).or_default() += count;
            }
        }
        let before = self.at_ms.saturating_sub(self.silent_ms);
        let mut silent = Vec::new();
        let mut silent_total = 0;
        for ((ms, record), seen) in views.last_seen.range(..(before, String::new())) {
            let community = community_of(record);
            if registry_of(record) != SITES
                || seen.category != self.silent_kind
                || seen.status == CLOSED
                || !self.filter.place(placement, community)
                || !self.filter.status(&seen.status)
            {
                continue;
            }
            silent_total += 1;
            if silent.len() < limit {
                silent.push(SilentSite {
                    record: record.clone(),
                    street: placement.street(community).to_string(),
                    community: community.to_string(),
                    status: seen.status.clone(),
                    last_report_ms: (*ms != i64::MIN).then_some(*ms),
                });
            }
        }
        let counts = counts.into_iter().map(|((kind, status), count)| SiteCount { kind, status, count }).collect();
        Ok(SitesAnswer { counts, silent_total, silent })
    }
}
