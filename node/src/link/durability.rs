//! This node's share of the durability watermarks (`linli_core::link::durable`): how
//! far its own log is durable at the tiers above it, as its parent's Acks say, and per
//! child the points that carry those watermarks over to the child's log.
//!
//! The uplink's pump sets this node's levels ([`Durability::set_own`]); each child's
//! pump notes the batches it applied ([`Durability::applied`]) and, whenever the levels
//! move, computes the child's watermarks ([`Durability::above`]) for its session to
//! send down in an `Ack`. `Registry.Write` waits on the levels when a client asks to be
//! answered once its write is durable at the street or the district.

use linli_core::link::durable::Watermarks;
use std::sync::Mutex;
use tokio::sync::watch;

/// The node's [`Watermarks`], shared by its link pumps and services, and a signal that
/// wakes whoever waits on this node's own levels.
pub struct Durability {
    marks: Mutex<Watermarks>,
    /// This node's log durable at each tier above it, as in the marks: `[0]` at its
    /// parent. Empty at the root.
    levels: watch::Sender<Vec<u64>>,
}

impl Default for Durability {
    fn default() -> Self {
        Self { marks: Mutex::new(Watermarks::default()), levels: watch::channel(Vec::new()).0 }
    }
}

impl Durability {
    fn marks(&self) -> std::sync::MutexGuard<'_, Watermarks> {
        self.marks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Wakes whenever this node's levels move.
    pub fn levels(&self) -> watch::Receiver<Vec<u64>> {
        self.levels.subscribe()
    }

    pub fn current(&self) -> Vec<u64> {
        self.levels.borrow().clone()
    }

    /// From the uplink's session: the parent holds this node's log through `acked`,
    /// and the tiers above it as far as `above` says.
    pub fn set_own(&self, acked: u64, above: &[u64]) {
        let mut marks = self.marks();
        if marks.set_own(acked, above) {
            self.levels.send_replace(marks.levels().to_vec());
        }
    }

    /// `child`'s log `log_id` through `child_through` is durable here, and this node's
    /// log then ended at `end`: the child's watermarks above this node now.
    pub fn applied(&self, child: &str, log_id: &str, child_through: u64, end: u64) -> Vec<u64> {
        self.marks().applied(child, log_id, child_through, end)
    }

    /// `child`'s watermarks above this node, from the levels as they are now.
    pub fn above(&self, child: &str) -> Vec<u64> {
        self.marks().above(child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_sees_the_district_through_its_street() {
        // A street: its log durable at the district through 150.
        let durability = Durability::default();
        assert_eq!(durability.above("c"), Vec::<u64>::new());
        assert_eq!(durability.applied("c", "log-1", 10, 100), Vec::<u64>::new());
        let levels = durability.levels();
        durability.set_own(150, &[]);
        assert!(levels.has_changed().expect("sender alive"));
        assert_eq!(durability.above("c"), vec![10]);
        durability.applied("c", "log-1", 20, 200);
        assert_eq!(durability.above("c"), vec![10]);
        durability.set_own(200, &[]);
        assert_eq!(durability.above("c"), vec![20]);
        assert_eq!(durability.above("another"), Vec::<u64>::new());
    }
}
