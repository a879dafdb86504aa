//! Workload time: a virtual clock that runs `speed` times faster than the wall, and
//! the daily curve of arrivals (quiet nights, evening and weekend peaks).
//!
//! Records carry virtual timestamps (reported_at, deadlines), so a run of minutes
//! covers hours or days of a district's life; the servers' own clocks stay real.

/// China Standard Time, UTC+8, in ms: the curve follows local hours.
const CST_OFFSET_MS: i64 = 8 * 3_600_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Virtual time at the start of the run, ms since the epoch.
    pub start_ms: i64,
    /// Virtual ms per wall ms.
    pub speed: f64,
}

impl Clock {
    pub fn virtual_ms(&self, wall_elapsed_ms: f64) -> i64 {
        self.start_ms + (wall_elapsed_ms * self.speed) as i64
    }

    /// Wall ms after the start at which virtual time reaches `virtual_ms`.
    pub fn wall_ms(&self, virtual_ms: i64) -> f64 {
        (virtual_ms - self.start_ms) as f64 / self.speed
    }
}

/// Relative arrival rate at `virtual_ms`; averages 1.0 over a week.
pub fn curve(virtual_ms: i64) -> f64 {
    raw_curve(virtual_ms) / WEEK_MEAN
}

/// Hour-of-day weights (local time): night trough, a morning rise, a lunchtime
/// shoulder and the evening peak when residents are home.
const HOURLY: [f64; 24] = [
    0.25, 0.15, 0.1, 0.1, 0.1, 0.15, 0.35, 0.7, 1.0, 1.1, 1.1, 1.0, 0.9, 0.9, 1.0, 1.0, 1.1, 1.3, 1.6, 2.0, 2.1, 1.8,
    1.1, 0.5,
];

/// The mean of `raw_curve` over a week: 5 weekdays at 1.0 and 2 weekend days at 1.3
/// times the mean hourly weight.
const WEEK_MEAN: f64 = mean_hourly() * (5.0 + 2.0 * 1.3) / 7.0;

const fn mean_hourly() -> f64 {
    let (mut i, mut sum) = (0, 0.0);
    while i < HOURLY.len() {
        sum += HOURLY[i];
        i += 1;
    }
    sum / HOURLY.len() as f64
}

fn raw_curve(virtual_ms: i64) -> f64 {
    let local = virtual_ms + CST_OFFSET_MS;
    let hour = local.rem_euclid(DAY_MS) / HOUR_MS;
    // 1970-01-01 was a Thursday: day 0 -> weekday 3 (Monday = 0).
    let weekday = (local.div_euclid(DAY_MS) + 3).rem_euclid(7);
    let weekend = if weekday >= 5 { 1.3 } else { 1.0 };
    HOURLY[hour as usize] * weekend
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_averages_one_over_a_week_and_peaks_in_the_evening() {
        // 2026-11-16 00:00 CST, a Monday.
        let monday = 1_794_758_400_000;
        let week: f64 = (0..7 * 24).map(|h| curve(monday + h * HOUR_MS)).sum::<f64>() / (7.0 * 24.0);
        assert!((week - 1.0).abs() < 1e-9, "{week}");
        assert!(curve(monday + 20 * HOUR_MS) > 2.0 * curve(monday + 10 * HOUR_MS) * 0.9);
        assert!(curve(monday + 3 * HOUR_MS) < 0.2);
        let saturday = monday + 5 * DAY_MS;
        assert!(curve(saturday + 20 * HOUR_MS) > curve(monday + 20 * HOUR_MS));
    }

    #[test]
    fn wall_and_virtual_time_invert() {
        let clock = Clock { start_ms: 1_000, speed: 144.0 };
        assert_eq!(clock.virtual_ms(1_000.0), 1_000 + 144_000);
        assert!((clock.wall_ms(clock.virtual_ms(2_500.0)) - 2_500.0).abs() < 1e-6);
    }
}
