//! Histograms of durations with fixed log-scale buckets.
//!
//! Buckets are the same everywhere and forever (they are part of stored keys): bucket 0
//! holds durations under one second; bucket `i` holds `[UPPER[i-1], UPPER[i])` with
//! `UPPER[i]` = 1 s x 2^(i/4), rounded to the millisecond, so each bucket is about 19%
//! wider than the one before; the last bucket holds everything from about 4.5 years up.
//! A percentile is answered as the upper bound of the bucket that holds it: at most
//! 19% above the true value, never below it. Negative durations (a clock set wrong at
//! the community) count in bucket 0.

use std::sync::LazyLock;

/// Number of buckets.
pub const BUCKETS: usize = 108;

/// Upper bound (exclusive) of each bucket but the last, in ms.
static UPPER_MS: LazyLock<[i64; BUCKETS - 1]> = LazyLock::new(|| {
    let mut upper = [0i64; BUCKETS - 1];
    for (i, bound) in upper.iter_mut().enumerate() {
        *bound = (1000.0 * 2f64.powf(i as f64 / 4.0)).round() as i64;
    }
    upper
});

/// The bucket of a duration.
pub fn bucket_of(duration_ms: i64) -> u16 {
    UPPER_MS.partition_point(|&upper| upper <= duration_ms) as u16
}

/// The value a percentile falling in `bucket` is answered with: its upper bound (the
/// last bucket, unbounded, answers with its lower bound).
pub fn bucket_value_ms(bucket: u16) -> i64 {
    let i = usize::from(bucket).min(BUCKETS - 2);
    UPPER_MS[i]
}

/// Counts by bucket, sorted by bucket, without zeros: most histograms (one community,
/// category and day) hold a few records, so a sparse list is a few bytes. A bucket's
/// count is an i32 (8 bytes a bucket: queries read many histograms, memory is their
/// cost); one histogram's bucket never holds 2^31 records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hist(Vec<(u16, i32)>);

impl Hist {
    pub fn add(&mut self, bucket: u16, delta: i64) {
        let delta = delta.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        match self.0.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => {
                self.0[i].1 = self.0[i].1.saturating_add(delta);
                if self.0[i].1 == 0 {
                    self.0.remove(i);
                }
            }
            Err(i) => self.0.insert(i, (bucket, delta)),
        }
    }

    pub fn get(&self, bucket: u16) -> i64 {
        self.0.binary_search_by_key(&bucket, |(b, _)| *b).map(|i| i64::from(self.0[i].1)).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn buckets(&self) -> impl Iterator<Item = (u16, i64)> + '_ {
        self.0.iter().map(|(b, n)| (*b, i64::from(*n)))
    }

    /// Adds every bucket of `other` (merging histograms for a query).
    pub fn merge(&mut self, other: &Hist) {
        for (bucket, count) in other.buckets() {
            self.add(bucket, count);
        }
    }

    pub fn total(&self) -> i64 {
        self.0.iter().map(|(_, n)| i64::from(*n)).sum()
    }

    /// The `q` quantile (0 < q <= 1): the value of the bucket holding the record of rank
    /// ceil(q x total). `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        quantile(self.buckets(), self.total(), q)
    }
}

fn quantile(buckets: impl Iterator<Item = (u16, i64)>, total: i64, q: f64) -> Option<i64> {
    if total <= 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in buckets {
        seen += count;
        if seen >= rank {
            return Some(bucket_value_ms(bucket));
        }
    }
    None
}

/// Counts by bucket in a fixed array, for summing many sparse histograms into a few
/// (a query's groups): adding one is an index per bucket, no search, no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dense(Box<[i64; BUCKETS]>);

impl Default for Dense {
    fn default() -> Self {
        Dense(Box::new([0; BUCKETS]))
    }
}

impl Dense {
    pub fn merge(&mut self, hist: &Hist) {
        for (bucket, count) in hist.buckets() {
            self.0[usize::from(bucket).min(BUCKETS - 1)] += count;
        }
    }

    pub fn total(&self) -> i64 {
        self.0.iter().sum()
    }

    /// As [`Hist::quantile_ms`].
    pub fn quantile_ms(&self, q: f64) -> Option<i64> {
        let buckets = self.0.iter().enumerate().filter(|(_, n)| **n != 0).map(|(b, n)| (b as u16, *n));
        quantile(buckets, self.total(), q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_log_scale_and_hold_their_values() {
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(999), 0);
        assert_eq!(bucket_of(1000), 1);
        for ms in [1_000, 5_000, 3_600_000, 5 * 3_600_000, 86_400_000, 30 * 86_400_000] {
            let value = bucket_value_ms(bucket_of(ms));
            assert!(value > ms && (value as f64) <= ms as f64 * 1.19 + 1.0, "{ms} -> {value}");
        }
        assert_eq!(bucket_of(i64::MAX) as usize, BUCKETS - 1);
    }

    #[test]
    fn quantiles_take_the_bucket_of_the_rank() {
        let mut hist = Hist::default();
        for ms in [1_000, 2_000, 3_000, 100_000] {
            hist.add(bucket_of(ms), 1);
        }
        assert_eq!(hist.quantile_ms(0.5), Some(bucket_value_ms(bucket_of(2_000))));
        assert_eq!(hist.quantile_ms(0.99), Some(bucket_value_ms(bucket_of(100_000))));
        hist.add(bucket_of(100_000), -1);
        assert_eq!(hist.quantile_ms(1.0), Some(bucket_value_ms(bucket_of(3_000))));
        assert_eq!(Hist::default().quantile_ms(0.5), None);
        let mut dense = Dense::default();
        dense.merge(&hist);
        dense.merge(&hist);
        assert_eq!((dense.total(), dense.quantile_ms(1.0)), (6, hist.quantile_ms(1.0)));
    }
}
