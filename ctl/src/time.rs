//! Times on the command line: ms since 1970, or a date (and time) in Shenzhen.

use super::CtlError;
use linli_core::schema::calendar::{day_start_ms, days_from_civil};

/// `1795320000000`, `2026-11-22` (the day's start) or `2026-11-22T12:00`, Shenzhen time.
pub fn parse_time(arg: &str, text: &str) -> Result<i64, CtlError> {
    let bad = || CtlError::BadArgument {
        arg: arg.into(),
        reason: format!("`{text}` is not ms since 1970, YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let (date, clock) = match text.split_once('T') {
        Some((date, clock)) => (date, Some(clock)),
        None => (text, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    let (y, m, d): (i64, u32, u32) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut ms = day_start_ms(days_from_civil(y, m, d));
    if let Some(clock) = clock {
        let (h, min) = clock.split_once(':').ok_or_else(bad)?;
        let (h, min): (i64, i64) = (h.parse().map_err(|_| bad())?, min.parse().map_err(|_| bad())?);
        if !(0..24).contains(&h) || !(0..60).contains(&min) {
            return Err(bad());
        }
        ms += (h * 60 + min) * 60_000;
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_shenzhen_time() {
        assert_eq!(parse_time("at", "2026-11-22T12:00").unwrap(), 1_795_320_000_000);
        assert_eq!(parse_time("at", "1795320000000").unwrap(), 1_795_320_000_000);
        assert_eq!(parse_time("at", "2026-11-22").unwrap(), 1_795_320_000_000 - 12 * 3_600_000);
        assert!(parse_time("at", "tomorrow").unwrap_err().to_string().contains("`at`"));
        assert!(parse_time("at", "2026-13-01").is_err());
    }
}
