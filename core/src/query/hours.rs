//! Volunteer service hours (志愿服务): by community and month, and the top teams.

use super::{Filter, Placement, VOLUNTEERS, limit};
use crate::error::{Error, Result};
use crate::views::Views;
use std::collections::BTreeMap;

/// Hours and visits by community and month, for the months `from_month` through
/// `to_month` (`YYYY-MM`, both included), and the `top` teams by hours over them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hours {
    pub filter: Filter,
    pub from_month: String,
    pub to_month: String,
    pub top: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursRow {
    pub street: String,
    pub community: String,
    pub month: String,
    pub hours: i64,
    pub visits: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRow {
    pub street: String,
    pub community: String,
    pub team: String,
    pub hours: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoursAnswer {
    pub months: Vec<HoursRow>,
    /// Most hours first; ties by community and team.
    pub top_teams: Vec<TeamRow>,
}

fn month(field: &'static str, text: &str) -> Result<()> {
    let b = text.as_bytes();
    let ok = b.len() == 7 && b[4] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit());
    if ok { Ok(()) } else { Err(Error::Query { field, reason: format!("`{text}` is not a month like 2026-11") }) }
}

impl Hours {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<HoursAnswer> {
        month("from_month", &self.from_month)?;
        month("to_month", &self.to_month)?;
        let top = limit(self.top)?;
        let in_window = |period: &str| period >= self.from_month.as_str() && period <= self.to_month.as_str();
        let mut months: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for (key, value) in &views.sums {
            if key.registry != VOLUNTEERS || !in_window(&key.period) || !self.filter.place(placement, &key.community) {
                continue;
            }
            let entry = months.entry((key.community.clone(), key.period.clone())).or_default();
            match key.field.as_str() {
                "hours" => entry.0 += value,
                "visits" => entry.1 += value,
                _ => {}
            }
        }
        let mut teams: BTreeMap<(String, String), i64> = BTreeMap::new();
        for (key, value) in &views.group_sums {
            if key.registry == VOLUNTEERS
                && key.field == "hours"
                && in_window(&key.period)
                && self.filter.place(placement, &key.community)
            {
                *teams.entry((key.community.clone(), key.group.clone())).or_default() += value;
            }
        }
        let mut top_teams: Vec<TeamRow> = teams
            .into_iter()
            .map(|((community, team), hours)| TeamRow {
                street: placement.street(&community).to_string(),
                community,
                team,
                hours,
            })
            .collect();
        top_teams
            .sort_by(|a, b| b.hours.cmp(&a.hours).then_with(|| (&a.community, &a.team).cmp(&(&b.community, &b.team))));
        top_teams.truncate(top);
        let months = months
            .into_iter()
            .map(|((community, month), (hours, visits))| HoursRow {
                street: placement.street(&community).to_string(),
                community,
                month,
                hours,
                visits,
            })
            .collect();
        Ok(HoursAnswer { months, top_teams })
    }
}
