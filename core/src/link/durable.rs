//! How far a child's log is durable at the tiers above its parent: the watermarks that
//! travel down the tree in `Ack`s.
//!
//! A parent applies a child's batch (child's log through `c`) and, in the same synced
//! write, appends those changes to its own log, which then ends at or below `e`. Once
//! the parent's own parent has acknowledged the parent's log through `e`, everything of
//! the child's log through `c` is durable there too. [`Durable`] keeps these
//! `(c, e)` points per child and maps the parent's own watermarks (its log durable at
//! its parent, at the grandparent, …) to the child's log: `above[0]` is the child's
//! log durable at the parent's parent, `above[1]` one tier further up.
//!
//! The runtime reads `e` as the log's end after the batch is durable, which may
//! include later entries of other links: the watermark it yields is then lower than
//! the truth, never higher. Changes that arrive by the repair path (the sync
//! protocol) move no watermark until a later batch covers them.
//!
//! Bounded: at most [`POINTS_MAX`] points per child; past it every other point is
//! dropped, which again only lowers what is reported until the next batch.

use std::collections::VecDeque;

/// Points kept per child.
pub const POINTS_MAX: usize = 4096;

/// One child's points, oldest first: `(child_through, parent_end)`, both increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durable {
    points: VecDeque<(u64, u64)>,
}

impl Durable {
    /// The parent durably applied the child's log through `child_through`; its own
    /// log then ended at `parent_end` (or below).
    pub fn note_applied(&mut self, child_through: u64, parent_end: u64) {
        if let Some(&(last_child, last_end)) = self.points.back() {
            if child_through <= last_child {
                return;
            }
            // The same parent end: the newer point says more.
            if parent_end <= last_end {
                self.points.pop_back();
            }
        }
        self.points.push_back((child_through, parent_end));
        if self.points.len() > POINTS_MAX {
            let kept: VecDeque<(u64, u64)> = self.points.iter().copied().skip(1).step_by(2).collect();
            self.points = kept;
        }
    }

    /// The child's log durable at each tier above the parent, given the parent's own
    /// log durable there (`parent_above[0]` at its parent, and so on up): for each,
    /// the furthest child point whose parent end it covers.
    pub fn above(&self, parent_above: &[u64]) -> Vec<u64> {
        parent_above
            .iter()
            .map(|&durable| {
                self.points.iter().take_while(|(_, end)| *end <= durable).last().map_or(0, |(child, _)| *child)
            })
            .collect()
    }

    /// Drops the points no tier needs: those before the last one the highest tier
    /// (the smallest of `parent_above`) covers.
    pub fn forget_covered(&mut self, parent_above: &[u64]) {
        let Some(&lowest) = parent_above.iter().min() else {
            return;
        };
        let covered = self.points.iter().take_while(|(_, end)| *end <= lowest).count();
        for _ in 1..covered {
            self.points.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Merges `newer` watermarks into `kept`, level by level, never lowering one (a parent
/// that restarted reports from what its new points cover, which may be less).
pub fn raise(kept: &mut Vec<u64>, newer: &[u64]) -> bool {
    let mut raised = false;
    if kept.len() < newer.len() {
        kept.resize(newer.len(), 0);
    }
    for (kept, newer) in kept.iter_mut().zip(newer) {
        if newer > kept {
            *kept = *newer;
            raised = true;
        }
    }
    raised
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_log_is_durable_above_as_far_as_the_parent_log_that_holds_it() {
        let mut durable = Durable::default();
        durable.note_applied(10, 100);
        durable.note_applied(20, 130);
        durable.note_applied(25, 170);
        // The district holds the street's log through 150, the city through 100.
        assert_eq!(durable.above(&[150, 100]), vec![20, 10]);
        assert_eq!(durable.above(&[99]), vec![0]);
        assert_eq!(durable.above(&[1_000]), vec![25]);
        assert_eq!(durable.above(&[]), Vec::<u64>::new());
    }

    #[test]
    fn covered_points_are_forgotten_but_the_answer_stays() {
        let mut durable = Durable::default();
        for i in 1..=10 {
            durable.note_applied(i * 10, i * 100);
        }
        durable.forget_covered(&[900, 500]);
        assert_eq!(durable.above(&[900, 500]), vec![90, 50]);
        assert_eq!(durable.len(), 6);
    }

    #[test]
    fn the_points_stay_bounded_and_answers_only_go_lower() {
        let mut durable = Durable::default();
        for i in 1..=(3 * POINTS_MAX as u64) {
            durable.note_applied(i, i * 2);
        }
        assert!(durable.len() <= POINTS_MAX);
        for probe in [10u64, 5_000, 12_000, 24_000] {
            let reported = durable.above(&[probe])[0];
            assert!(reported <= probe / 2, "{reported} past the truth {} at {probe}", probe / 2);
        }
        assert_eq!(durable.above(&[u64::MAX]), vec![3 * POINTS_MAX as u64]);
    }

    #[test]
    fn an_older_batch_moves_nothing_and_watermarks_never_go_down() {
        let mut durable = Durable::default();
        durable.note_applied(10, 100);
        durable.note_applied(5, 200);
        assert_eq!(durable.above(&[200]), vec![10]);
        let mut kept = vec![7, 3];
        assert!(raise(&mut kept, &[9, 2, 1]));
        assert_eq!(kept, vec![9, 3, 1]);
        assert!(!raise(&mut kept, &[9, 3]));
    }
}
