//! Hybrid logical clock.
//!
//! A timestamp packs wall-clock milliseconds (high 48 bits) and a logical counter (low
//! 16 bits) into a `u64`, so timestamps sort as numbers. A node's clock never goes
//! backwards and never returns the same value twice, even when the wall clock does;
//! receiving a peer's timestamp moves it past that timestamp. Commit times and claim
//! order come from here, never from the wall clock directly, and never 0.

/// One HLC timestamp. Ordered: wall time first, then the logical counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc(pub u64);

const LOGICAL_BITS: u32 = 16;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;
/// The largest wall time a timestamp holds: 48 bits of milliseconds.
pub const WALL_MS_MAX: u64 = u64::MAX >> LOGICAL_BITS;

impl Hlc {
    /// A wall time past [`WALL_MS_MAX`] (the year 10889) is taken as that bound, never
    /// shifted out of range.
    pub fn from_parts(wall_ms: u64, logical: u16) -> Self {
        Hlc((wall_ms.min(WALL_MS_MAX) << LOGICAL_BITS) | u64::from(logical))
    }
    pub fn wall_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }
    pub fn logical(self) -> u16 {
        (self.0 & LOGICAL_MASK) as u16
    }
}

/// The clock of one node. Sans-IO: the caller passes the wall time in.
#[derive(Debug, Clone, Default)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// Resumes after `last`, e.g. the highest timestamp persisted before a restart.
    pub fn resume(last: Hlc) -> Self {
        Self { last }
    }

    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A new timestamp, strictly greater than every one seen so far.
    pub fn now(&mut self, wall_ms: u64) -> Hlc {
        // The wall clock must not be 0: Automerge and operators read commit times.
        let wall_ms = wall_ms.max(1);
        let next = if wall_ms > self.last.wall_ms() {
            Hlc::from_parts(wall_ms, 0)
        } else {
            // Wall clock behind or equal: advance the logical part. When it wraps, the
            // carry moves into the millisecond part, which keeps the order total. At the
            // very top it stays there rather than wrap to 0 (the year 10889: a clock
            // that far ahead is refused long before, see `Error::ClockAhead`).
            Hlc(self.last.0.saturating_add(1))
        };
        self.last = next;
        next
    }

    /// Observes a timestamp from a peer, so later local timestamps sort after it.
    pub fn observe(&mut self, seen: Hlc) {
        if seen > self.last {
            self.last = seen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_repeats_and_never_goes_back_even_when_the_wall_clock_does() {
        let mut clock = HlcClock::default();
        let a = clock.now(1_000);
        let b = clock.now(1_000);
        let c = clock.now(900);
        assert!(a < b && b < c);
        assert_eq!(c.wall_ms(), 1_000);
        assert_eq!(c.logical(), 2);
        clock.observe(Hlc::from_parts(5_000, 7));
        let d = clock.now(1_001);
        assert!(d > Hlc::from_parts(5_000, 7));
        assert_eq!(clock.now(0).wall_ms(), 5_000);
    }

    #[test]
    fn parts_out_of_range_saturate_and_never_wrap() {
        assert_eq!(Hlc::from_parts(u64::MAX, 3).wall_ms(), WALL_MS_MAX);
        let mut clock = HlcClock::resume(Hlc(u64::MAX - 1));
        assert_eq!(clock.now(1).0, u64::MAX);
        assert_eq!(clock.now(1).0, u64::MAX, "wrapped to the start of time");
    }
}
