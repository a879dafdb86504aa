//! Shard names from timestamps, in China Standard Time (UTC+8, no daylight saving):
//! a request reported at 00:30 on 1 December in Shenzhen belongs to December's shard.

const CST_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// (year, month) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32) {
    let (year, month, _) = civil(days);
    (year, month)
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day (in Shenzhen) of a timestamp, as days since 1970-01-01.
pub fn cst_day(ms: i64) -> i64 {
    (ms + CST_OFFSET_MS).div_euclid(DAY_MS)
}

/// A day count as `YYYY-MM-DD`.
pub fn day_name(days: i64) -> String {
    let (year, month, day) = civil(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A day count's year as `YYYY`.
pub fn year_name(days: i64) -> String {
    format!("{:04}", civil(days).0)
}

/// The day count of the first day of the year after the one holding `days`.
pub fn next_year_start(days: i64) -> i64 {
    days_from_civil(civil(days).0 + 1, 1, 1)
}

/// A day count's quarter as `YYYY-Qn`.
pub fn quarter_name(days: i64) -> String {
    let (year, month, _) = civil(days);
    format!("{year:04}-Q{}", (month - 1) / 3 + 1)
}

/// The day count of the first day of the quarter after the one holding `days`.
pub fn next_quarter_start(days: i64) -> i64 {
    let (year, month, _) = civil(days);
    let next = (month - 1) / 3 * 3 + 4;
    if next > 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, next, 1) }
}

/// A day count's month as `YYYY-MM`.
pub fn month_name(days: i64) -> String {
    let (year, month, _) = civil(days);
    format!("{year:04}-{month:02}")
}

/// Weeks are 7-day blocks of day counts (1970-01-01 was a Thursday: a week runs
/// Thursday to Wednesday); only their use as histogram periods matters, not the weekday.
pub fn week_of(days: i64) -> i64 {
    days.div_euclid(7)
}

/// A week as a period name: `w` and its number.
pub fn week_name(days: i64) -> String {
    format!("w{}", week_of(days))
}

/// The day count of the first day of the month after the one holding `days`.
pub fn next_month_start(days: i64) -> i64 {
    let (year, month, _) = civil(days);
    if month == 12 { days_from_civil(year + 1, 1, 1) } else { days_from_civil(year, month + 1, 1) }
}

/// The first millisecond of a day count, in Shenzhen.
pub fn day_start_ms(days: i64) -> i64 {
    days * DAY_MS - CST_OFFSET_MS
}

fn year_month(ms: i64) -> (i64, u32) {
    civil_from_days((ms + CST_OFFSET_MS).div_euclid(DAY_MS))
}

pub fn month_shard(ms: i64) -> String {
    let (year, month) = year_month(ms);
    format!("{year:04}-{month:02}")
}

pub fn year_shard(ms: i64) -> String {
    format!("{:04}", year_month(ms).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_turn_at_midnight_in_shenzhen() {
        // 2026-11-30T16:30:00Z is 2026-12-01 00:30 in Shenzhen.
        assert_eq!(month_shard(1_796_056_200_000), "2026-12");
        // 2026-11-30T15:30:00Z is still 23:30 on 30 November there.
        assert_eq!(month_shard(1_796_052_600_000), "2026-11");
        assert_eq!(year_shard(1_796_056_200_000), "2026");
        assert_eq!(month_shard(0), "1970-01");
    }

    #[test]
    fn days_round_trip_and_turn_in_shenzhen() {
        for days in [-1, 0, 59, 365, 20_000, 20_513, 20_788] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(day_name(cst_day(1_796_056_200_000)), "2026-12-01");
        assert_eq!(day_name(cst_day(1_796_052_600_000)), "2026-11-30");
        assert_eq!(day_name(next_month_start(cst_day(1_796_052_600_000))), "2026-12-01");
        assert_eq!(cst_day(day_start_ms(20_000)), 20_000);
        assert_eq!(cst_day(day_start_ms(20_000) - 1), 19_999);
    }
}
