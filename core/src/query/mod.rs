//! The operators' queries, answered from the materialized views only: never by
//! reading documents. Each answer's cost is bounded by the size of the views it reads
//! (counts, histograms by month and day, the open list), not by the number of records.
//!
//! The queries read the shipped registries by name ([`REQUESTS`], [`TASKS`]...): they
//! are the governance questions of those registries. "Now" is part of every query that
//! depends on the clock (`at_ms`), so tests and operators can ask about any moment.
//! Lists are bounded by [`LIST_MAX`]; an answer says when it was cut.

pub mod daily;
mod hours;
mod projects;
mod requests;
mod sites;
mod tasks;
pub mod window;

pub use daily::{Daily, DayCount};
pub use hours::{Hours, HoursAnswer, HoursRow, TeamRow};
pub use projects::{CAP_FEN, ProjectRow, Projects};
pub use requests::{
    Open, OpenCount, OpenList, OpenListAnswer, OpenRecord, Overdue, OverdueAnswer, OverdueRecord, Resolution,
    ResolutionRow,
};
pub use sites::{SilentSite, SiteCount, Sites, SitesAnswer, colours as site_colours};
pub use tasks::{Funnel, FunnelRow, STEPS as TASK_STEPS, StepRow};

use crate::error::{Error, Result};
use crate::schema::Registries;
use crate::views::Views;
use std::collections::BTreeMap;

pub const REQUESTS: &str = "requests";
pub const TASKS: &str = "tasks";
pub const PROJECTS: &str = "projects";
pub const VOLUNTEERS: &str = "volunteers";
pub const SITES: &str = "sites";

/// The most rows any list answer holds; a larger `limit` is refused.
pub const LIST_MAX: usize = 1000;
/// The rows a list holds when the query does not say.
pub const LIST_DEFAULT: usize = 100;

/// Which street each community is under, as this node knows it (from its links'
/// routes). A community not listed is under no street (`-`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub street_of: BTreeMap<String, String>,
}

pub const NO_STREET: &str = "-";

impl Placement {
    pub fn street(&self, community: &str) -> &str {
        self.street_of.get(community).map(String::as_str).unwrap_or(NO_STREET)
    }
}

/// Restricts a query to part of the subtree; every field left empty matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub street: Option<String>,
    pub community: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
}

impl Filter {
    pub fn place(&self, placement: &Placement, community: &str) -> bool {
        self.community.as_deref().is_none_or(|c| c == community)
            && self.street.as_deref().is_none_or(|s| s == placement.street(community))
    }
    pub fn category(&self, category: &str) -> bool {
        self.category.as_deref().is_none_or(|c| c == category)
    }
    pub fn status(&self, status: &str) -> bool {
        self.status.as_deref().is_none_or(|s| s == status)
    }
    fn refuse_status(&self, query: &str) -> Result<()> {
        match &self.status {
            Some(_) => Err(Error::Query { field: "status", reason: format!("{query} does not filter by status") }),
            None => Ok(()),
        }
    }
}

/// The place filter with the last answer remembered: views are keyed community first,
/// so consecutive entries mostly share a community and its street is looked up once.
pub struct Places<'a> {
    filter: &'a Filter,
    placement: &'a Placement,
    last: Option<(&'a str, Option<&'a str>)>,
}

impl<'a> Places<'a> {
    pub fn new(filter: &'a Filter, placement: &'a Placement) -> Self {
        Self { filter, placement, last: None }
    }

    /// The street of `community` when it passes the filter's street and community.
    pub fn street(&mut self, community: &'a str) -> Option<&'a str> {
        if let Some((last, street)) = self.last
            && last == community
        {
            return street;
        }
        let street = self.filter.place(self.placement, community).then(|| self.placement.street(community));
        self.last = Some((community, street));
        street
    }

    /// The communities the filter names (one, or a street's), in order; `None`: all.
    pub fn communities(&self) -> Option<Vec<&'a str>> {
        match (&self.filter.community, &self.filter.street) {
            (Some(community), _) => Some(vec![community.as_str()]),
            (None, Some(street)) => {
                Some(self.placement.street_of.iter().filter(|(_, s)| *s == street).map(|(c, _)| c.as_str()).collect())
            }
            (None, None) => None,
        }
    }
}

/// Small sets of names (streets, categories) numbered in order of first sight, so a
/// query's groups are keyed by numbers: comparing a view's key with a few hot names
/// costs less than comparing keys that point into the views.
#[derive(Default)]
pub struct Names<'a>(Vec<&'a str>);

impl<'a> Names<'a> {
    pub fn id(&mut self, name: &'a str) -> usize {
        match self.0.iter().position(|n| *n == name) {
            Some(i) => i,
            None => {
                self.0.push(name);
                self.0.len() - 1
            }
        }
    }
    pub fn name(&self, id: usize) -> &'a str {
        self.0[id]
    }
}

/// An aggregate query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Open(Open),
    OpenList(OpenList),
    Overdue(Overdue),
    Resolution(Resolution),
    Funnel(Funnel),
    Projects(Projects),
    Hours(Hours),
    Sites(Sites),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Open(Vec<OpenCount>),
    OpenList(OpenListAnswer),
    Overdue(OverdueAnswer),
    Resolution(Vec<ResolutionRow>),
    Funnel(Vec<FunnelRow>),
    Projects(Vec<ProjectRow>),
    Hours(HoursAnswer),
    Sites(SitesAnswer),
}

impl Query {
    /// Whether the answer changes with the clock alone (a watch re-asks it as time passes).
    pub fn depends_on_clock(&self) -> bool {
        matches!(self, Query::Overdue(_) | Query::Sites(_) | Query::Resolution(_) | Query::Hours(_))
    }
}

/// What a query needs besides the views: the schemas (which statuses are open) and
/// where each community is.
pub struct Ctx<'a> {
    pub registries: &'a Registries,
    pub placement: &'a Placement,
}

/// Answers `query` from `views`.
pub fn answer(views: &Views, ctx: &Ctx, query: &Query) -> Result<Answer> {
    let placement = ctx.placement;
    Ok(match query {
        Query::Open(q) => Answer::Open(q.answer(views, ctx)?),
        Query::OpenList(q) => Answer::OpenList(q.answer(views, placement)?),
        Query::Overdue(q) => Answer::Overdue(q.answer(views, placement)?),
        Query::Resolution(q) => Answer::Resolution(q.answer(views, placement)?),
        Query::Funnel(q) => Answer::Funnel(q.answer(views, placement)?),
        Query::Projects(q) => Answer::Projects(q.answer(views, placement)?),
        Query::Hours(q) => Answer::Hours(q.answer(views, placement)?),
        Query::Sites(q) => Answer::Sites(q.answer(views, placement)?),
    })
}

/// A list's limit: the default when 0, refused above [`LIST_MAX`].
pub fn limit(asked: usize) -> Result<usize> {
    match asked {
        0 => Ok(LIST_DEFAULT),
        n if n <= LIST_MAX => Ok(n),
        n => Err(Error::Query { field: "limit", reason: format!("{n} is more than the bound of {LIST_MAX}") }),
    }
}

/// The community of a record key (`<owner>/<registry>/<shard>/<id>`).
pub fn community_of(record: &str) -> &str {
    record.split('/').next().unwrap_or(record)
}

/// The registry of a record key.
pub fn registry_of(record: &str) -> &str {
    record.split('/').nth(1).unwrap_or("")
}
