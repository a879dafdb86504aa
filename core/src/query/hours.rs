//! Volunteer service hours (志愿服务): by community and month, and the top teams.

use super::{Filter, Placement, Places, VOLUNTEERS, limit};
use crate::error::{Error, Result};
use crate::views::{GroupSumKey, SumKey, Views};

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
        let mut places = Places::new(&self.filter, placement);
        let communities = places.communities().unwrap_or_else(|| communities_with_sums(views));
        let end_month = format!("{}\0", self.to_month);
        // Borrowed keys, and only the keys of the window: one range per community.
        // Communities come in order and each one's months in order: rows are appended.
        let mut months: Vec<HoursRow> = Vec::new();
        let mut local_months: Vec<(&str, i64, i64)> = Vec::new();
        let mut teams: Vec<TeamHours> = Vec::new();
        // One community's teams at a time: a few, found by a short scan.
        let mut local: Vec<(&str, i64)> = Vec::new();
        for community in communities {
            let Some(street) = places.street(community) else { continue };
            local_months.clear();
            for (i, field) in ["hours", "visits"].into_iter().enumerate() {
                let key = |period: &str| SumKey {
                    community: community.to_string(),
                    registry: VOLUNTEERS.to_string(),
                    field: field.to_string(),
                    period: period.to_string(),
                };
                for (key, value) in views.sums.range(key(&self.from_month)..key(&end_month)) {
                    let at = match local_months.iter().position(|(month, ..)| *month == key.period.as_str()) {
                        Some(at) => at,
                        None => {
                            local_months.push((&key.period, 0, 0));
                            local_months.len() - 1
                        }
                    };
                    if i == 0 {
                        local_months[at].1 += value;
                    } else {
                        local_months[at].2 += value;
                    }
                }
            }
            local_months.sort_by(|a, b| a.0.cmp(b.0));
            months.extend(local_months.iter().map(|(month, hours, visits)| HoursRow {
                street: street.into(),
                community: community.into(),
                month: month.to_string(),
                hours: *hours,
                visits: *visits,
            }));
            let key = |period: &str| GroupSumKey {
                community: community.to_string(),
                registry: VOLUNTEERS.to_string(),
                field: "hours".to_string(),
                period: period.to_string(),
                group: String::new(),
            };
            local.clear();
            for (key, value) in views.group_sums.range(key(&self.from_month)..key(&end_month)) {
                match local.iter_mut().find(|(team, _)| *team == key.group.as_str()) {
                    Some((_, hours)) => *hours += value,
                    None => local.push((&key.group, *value)),
                }
            }
            teams.extend(local.iter().map(|(team, hours)| ((community, *team), (street, *hours))));
        }
        let mut top_teams = teams;
        // Most hours first; ties by community and team. Only the top are sorted.
        let order = |a: &TeamHours, b: &TeamHours| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(&b.0));
        if top_teams.len() > top {
            top_teams.select_nth_unstable_by(top, order);
            top_teams.truncate(top);
        }
        top_teams.sort_by(order);
        let top_teams = top_teams
            .into_iter()
            .map(|((community, team), (street, hours))| TeamRow {
                street: street.into(),
                community: community.into(),
                team: team.into(),
                hours,
            })
            .collect();
        Ok(HoursAnswer { months, top_teams })
    }
}

/// ((community, team), (street, hours)), borrowed from the views while answering.
type TeamHours<'a> = ((&'a str, &'a str), (&'a str, i64));

/// Every community with sums (of any registry), one seek each: sums are keyed by
/// community first.
fn communities_with_sums(views: &Views) -> Vec<&str> {
    let mut communities = Vec::new();
    let mut from = String::new();
    loop {
        let start =
            SumKey { community: from.clone(), registry: String::new(), field: String::new(), period: String::new() };
        let Some((key, _)) = views.sums.range(start..).next() else { break };
        communities.push(key.community.as_str());
        // Past every key of this community (names never hold NUL).
        from = format!("{}\0", key.community);
    }
    communities
}
