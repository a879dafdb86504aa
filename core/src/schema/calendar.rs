//! Shard names from timestamps, in China Standard Time (UTC+8, no daylight saving):
//! a request reported at 00:30 on 1 December in Shenzhen belongs to December's shard.

const CST_OFFSET_MS: i64 = 8 * 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// (year, month) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
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
}
