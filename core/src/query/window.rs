//! Time windows as periods of the duration histograms: whole years, months and weeks
//! where the window covers them, days at its edges. Days, months and years are
//! Shenzhen's (UTC+8), as shards.

use crate::error::{Error, Result};
use crate::schema::calendar::{
    cst_day, day_name, month_name, next_month_start, next_quarter_start, next_year_start, quarter_name, week_name,
    week_of, year_name,
};
use crate::views::{Hist, HistKey, Views};

/// The most days a window may span (about ten years): bounds the periods a query reads.
pub const WINDOW_DAYS_MAX: i64 = 3660;

/// The periods that cover the days of `from_ms` through the day of `to_ms`, both
/// included, each day once: whole years where the window covers them, then whole
/// quarters, months, weeks, then single days.
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
        let year_end = next_year_start(day);
        let month_end = next_month_start(day);
        let week_end = (week_of(day) + 1) * 7;
        if year_name(day) != year_name(day - 1) && year_end - 1 <= last {
            periods.push(year_name(day));
            day = year_end;
        } else if quarter_name(day) != quarter_name(day - 1) && next_quarter_start(day) - 1 <= last {
            periods.push(quarter_name(day));
            day = next_quarter_start(day);
        } else if month_name(day) != month_name(day - 1) && month_end - 1 <= last {
            // A month whose first day this is and whose last day is in the window.
            periods.push(month_name(day));
            day = month_end;
        } else if week_of(day) != week_of(day - 1)
            && week_end - 1 <= last
            // A week that would run into a month the window holds whole stops short of
            // it, so that the month (and the quarters after it) are read whole.
            && (week_end <= month_end || next_month_start(month_end) - 1 > last)
        {
            periods.push(week_name(day));
            day = week_end;
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
    let key = |period: String| HistKey {
        registry: registry.to_string(),
        duration: duration.to_string(),
        period,
        community: String::new(),
        category: String::new(),
    };
    // Both bounds, so the walk compares no key: everything with this period sorts
    // before the period followed by NUL (names never hold NUL).
    let (start, end) = (key(period.to_string()), key(format!("{period}\0")));
    views.durations.range(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::calendar::{day_start_ms, days_from_civil};

    #[test]
    fn whole_months_inside_days_at_the_edges() {
        // 2026-10-30 .. 2026-12-02
        let from = day_start_ms(days_from_civil(2026, 10, 30));
        let to = day_start_ms(days_from_civil(2026, 12, 2)) + 5;
        assert_eq!(periods(from, to).unwrap(), ["2026-10-30", "2026-10-31", "2026-11", "2026-12-01", "2026-12-02"]);
        let (first, last) = (day_start_ms(days_from_civil(2026, 1, 1)), day_start_ms(days_from_civil(2026, 9, 30)));
        assert_eq!(periods(first, last).unwrap(), ["2026-Q1", "2026-Q2", "2026-Q3"]);
        assert_eq!(periods(first, last + 92 * 86_400_000).unwrap(), ["2026"]);
        // 2026-11-03 .. 2026-11-20: days to the first week's start, weeks, days.
        let (first, last) = (day_start_ms(days_from_civil(2026, 11, 3)), day_start_ms(days_from_civil(2026, 11, 20)));
        let got = periods(first, last).unwrap();
        let days: i64 = got.iter().map(|p| if p.starts_with('w') { 7 } else { 1 }).sum();
        // A rolling year: weeks stop at the first whole month, quarters follow.
        let (first, last) = (day_start_ms(days_from_civil(2026, 1, 6)), day_start_ms(days_from_civil(2027, 1, 6)));
        let got = periods(first, last).unwrap();
        assert!(got.contains(&"2026-Q4".to_string()) && got.len() <= 24, "{got:?}");
        assert_eq!(days, 18, "{got:?}");
        assert!(got.iter().filter(|p| p.starts_with('w')).count() >= 1, "{got:?}");
        assert_eq!(periods(to, to).unwrap(), ["2026-12-02"]);
        assert!(periods(to, from).is_err());
    }
}
