//! The wall clock the engine stamps its steps with.
//!
//! A server reads the system clock. The simulator's real mode runs real servers in one
//! process on one machine, so to show what a server whose clock runs off does (the
//! hybrid logical clock keeps causality, a peer's clock is bounded by
//! `link.clock_skew_ms_max`) it moves one server's reading by an offset, and can
//! change it while the server runs, as a clock that drifts or is reset. No config key
//! sets it: a production server always reads its machine's clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The system clock, moved by an offset (0 unless a simulator sets one).
#[derive(Debug, Clone, Default)]
pub struct WallClock {
    offset_ms: Arc<AtomicI64>,
}

impl PartialEq for WallClock {
    /// Clocks compare equal: a config's clock is not part of what it says.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl WallClock {
    /// Milliseconds since the epoch, never 0 (a clock before 1970 reads 1).
    pub fn now_ms(&self) -> u64 {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1);
        system.saturating_add_signed(self.offset_ms.load(Ordering::Relaxed)).max(1)
    }

    /// Runs this clock `offset_ms` off the system's from now on (for every holder of a
    /// clone).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_moves_every_clone() {
        let clock = WallClock::default();
        let shared = clock.clone();
        let before = clock.now_ms();
        shared.set_offset_ms(3_600_000);
        let ahead = clock.now_ms();
        assert!(ahead >= before + 3_600_000, "{ahead} vs {before}");
        shared.set_offset_ms(-3_600_000);
        assert!(clock.now_ms() < before, "an hour behind");
    }
}
