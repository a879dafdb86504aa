//! Counts per day: how many requests came in (`intake`) and were resolved
//! (`resolution`) on each of the last days, for the operators' daily curve. Read from
//! the day histograms of a duration, whose records are counted on the day of the
//! duration's end: `intake`'s two ends are both `reported_at`, so it counts arrivals.

use super::window::hists_in;
use super::{Filter, Placement, Places};
use crate::error::{Error, Result};
use crate::schema::calendar::{cst_day, day_name};
use crate::views::Views;

/// The most days one curve spans: bounds the periods it reads.
pub const DAILY_DAYS_MAX: usize = 92;
/// The duration of `requests` that counts each request on the day it was reported.
pub const INTAKE: &str = "intake";
/// The duration of `requests` that counts each request on the day it was resolved.
pub const RESOLVED: &str = super::requests::RESOLUTION;

/// The records of `registry` counted per day of `duration`'s end, over the `days`
/// days that end with the day of `last_ms` (Shenzhen's days).
#[derive(Debug, Clone, PartialEq)]
pub struct Daily {
    pub filter: Filter,
    pub registry: String,
    pub duration: String,
    pub last_ms: i64,
    pub days: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub count: i64,
}

impl Daily {
    pub fn answer(&self, views: &Views, placement: &Placement) -> Result<Vec<DayCount>> {
        if self.days == 0 || self.days > DAILY_DAYS_MAX {
            return Err(Error::Query {
                field: "days",
                reason: format!("{} is not in 1..={DAILY_DAYS_MAX}", self.days),
            });
        }
        let mut places = Places::new(&self.filter, placement);
        let last = cst_day(self.last_ms);
        let first = last - self.days as i64 + 1;
        Ok((first..=last)
            .map(|day| {
                let day = day_name(day);
                let count = hists_in(views, &self.registry, &self.duration, &day)
                    .filter(|(key, _)| self.filter.category(&key.category))
                    .filter(|(key, _)| places.street(&key.community).is_some())
                    .map(|(_, hist)| hist.total())
                    .sum();
                DayCount { day, count }
            })
            .collect())
    }
}
