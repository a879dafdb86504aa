//! Time windows as periods of the duration histograms: whole months where the window
//! covers them, days at its edges. Days and months are Shenzhen's (UTC+8), as shards.

use crate::error::{Error, Result};
use crate::schema::calendar::{cst_day, day_name, month_name, next_month_start};
use crate::views::{Hist, HistKey, Views};

/// The most days a window may span (about ten years): bounds the periods a query reads.
pub const WINDOW_DAYS_MAX: i64 = 3660;

/// The periods (month and day names) that cover the days of `from_ms` through the day of
/// `to_ms`, both included.
pub fn periods(from_ms: i64, to_ms: i64) -> Result<Vec<String>> {
    let (first, last) = (cst_day(from_ms), cst_day(to_ms));
    if last < first {
        return Err(Error::Query { field: "from_ms", reason: "the window ends before it starts".into() });
    }
    if last - first >= WINDOW_DAYS_MAX {
        return Err(Error::Query {
            field: "from_ms",
            reason: format!("the window spans more than {WINDOW_DAYS_MAX} days"),
        });
    }
    let mut periods = Vec::new();
    let mut day = first;
    while day <= last {
        let month_end = next_month_start(day);
        // A month whose first day this is and whose last day is in the window.
        if month_name(day) != month_name(day - 1) && month_end - 1 <= last {
            periods.push(month_name(day));
            day = month_end;
        } else {
            periods.push(day_name(day));
            day += 1;
        }
    }
    Ok(periods)
}

/// Every histogram of `registry`'s `duration` in one period, by (community, category).
pub fn hists_in<'a>(
    views: &'a Views,
    registry: &str,
    duration: &str,
    period: &str,
) -> impl Iterator<Item = (&'a HistKey, &'a Hist)> + 'a {
    let start = HistKey {
        registry: registry.to_string(),
        duration: duration.to_string(),
        period: period.to_string(),
        community: String::new(),
        category: String::new(),
    };
    let (registry, duration, period) = (registry.to_string(), duration.to_string(), period.to_string());
    views
        .durations
        .range(start..)
        .take_while(move |(k, _)| k.registry == registry && k.duration == duration && k.period == period)
}

/// The months (`YYYY-MM`) for which `registry`'s `duration` has histograms: one seek per
/// month, skipping the day entries between them.
pub fn months_present(views: &Views, registry: &str, duration: &str) -> Vec<String> {
    let mut months = Vec::new();
    let mut from = String::new();
    loop {
        let start = HistKey {
            registry: registry.to_string(),
            duration: duration.to_string(),
            period: from.clone(),
            community: String::new(),
            category: String::new(),
        };
        let Some((key, _)) = views.durations.range(start..).next() else { break };
        if key.registry != registry || key.duration != duration {
            break;
        }
        let month: String = key.period.chars().take(7).collect();
        // Past every key of this month, days included ('~' sorts after digits and '-').
        from = format!("{month}~");
        months.push(month);
    }
    months
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::calendar::day_start_ms;

    #[test]
    fn whole_months_inside_days_at_the_edges() {
        // 2026-10-30 .. 2026-12-02
        let from = day_start_ms(crate::schema::calendar::days_from_civil(2026, 10, 30));
        let to = day_start_ms(crate::schema::calendar::days_from_civil(2026, 12, 2)) + 5;
        assert_eq!(periods(from, to).unwrap(), ["2026-10-30", "2026-10-31", "2026-11", "2026-12-01", "2026-12-02"]);
        assert_eq!(periods(to, to).unwrap(), ["2026-12-02"]);
        assert!(periods(to, from).is_err());
    }
}
