//! Micro-projects (民生微实事): budget and spend per community and year, and the cap.

use super::{Filter, PROJECTS, Placement};
use crate::error::Result;
use crate::views::{GroupSumKey, Views};
use std::collections::BTreeMap;

/// City and district fund a community's micro-projects up to 2,000,000 yuan a year.
pub const CAP_FEN: i64 = 2_000_000 * 100;

/// The status whose budgets do not count toward the cap.
const CANCELLED: &str = "cancelled";

/// Budget and spend of each community in `year` (`YYYY`), cancelled projects left
/// out (the registry keeps its sums by status for this). `over_cap_only` keeps the
/// communities whose budget is over [`CAP_FEN`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Projects {
    pub filter: Filter,
    pub year: String,
    pub over_cap_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    pub street: String,
    pub community: String,
    pub year: String,
    pub budget_fen: i64,
    pub spent_fen: i64,
    pub over_cap: bool,
}

impl Projects {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<Vec<ProjectRow>> {
        if self.year.len() != 4 || !self.year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(crate::Error::Query {
                field: "year",
                reason: format!("`{}` is not a year like 2026", self.year),
            });
        }
        self.filter.refuse_status("projects")?;
        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        // Group sums are keyed by community first: the map is small (communities x
        // years x statuses x 2 fields), read whole.
        for (GroupSumKey { community, registry, field, period, group }, value) in &views.group_sums {
            if registry != PROJECTS
                || *period != self.year
                || group == CANCELLED
                || !self.filter.place(placement, community)
            {
                continue;
            }
            let entry = sums.entry(community.clone()).or_default();
            match field.as_str() {
                "budget" => entry.0 += value,
                "spent" => entry.1 += value,
                _ => {}
            }
        }
        Ok(sums
            .into_iter()
            .map(|(community, (budget_fen, spent_fen))| ProjectRow {
                street: placement.street(&community).to_string(),
                year: self.year.clone(),
                over_cap: budget_fen > CAP_FEN,
                community,
                budget_fen,
                spent_fen,
            })
            .filter(|row| row.over_cap || !self.over_cap_only)
            .collect())
    }
}
