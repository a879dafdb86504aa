//! A Prometheus histogram with fixed buckets, recorded from any thread without a lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket bounds for latencies in seconds: 100 µs to 10 s.
pub const SECONDS: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Bucket bounds for counts (requests in a batch, entries in a link batch): 1 to 4,096.
pub const COUNTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

/// Counts of observations per bucket (not cumulative; cumulated when rendered), their
/// sum in millionths of the unit, and their number.
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        // One more bucket than bounds: +Inf.
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        if let Some(counter) = self.buckets.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add((value * 1e6).max(0.0) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, elapsed: Duration) {
        self.observe(elapsed.as_secs_f64());
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The sum of the values observed.
    pub fn sum(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Appends the `_bucket`, `_sum` and `_count` lines of one series; `labels` is
    /// the series' labels without braces (`node="a",kind="open"`).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0u64;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, counter) in self.buckets.iter().enumerate() {
            cumulative += counter.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_inf() {
        let histogram = Histogram::new(&[0.001, 0.01]);
        for value in [0.0005, 0.005, 0.005, 3.0] {
            histogram.observe(value);
        }
        let mut out = String::new();
        histogram.render(&mut out, "x_seconds", "node=\"a\"");
        assert!(out.contains("x_seconds_bucket{node=\"a\",le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{node=\"a\",le=\"0.01\"} 3\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{node=\"a\",le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_seconds_count{node=\"a\"} 4\n"), "{out}");
        assert!(out.contains("x_seconds_sum{node=\"a\"} 3.0105\n"), "{out}");
    }
}
