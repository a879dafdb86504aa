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
//! [`Watermarks`] is one node's whole share: its own levels and its children's points,
//! kept the same way by the server's link runtime and by the simulator. A parent's
//! watermarks are checked on arrival ([`check_above`]): no tier above may claim more
//! of a log than the tier below it holds.
//!
//! Bounded: at most [`POINTS_MAX`] points per child; past it every other point is
//! dropped, which again only lowers what is reported until the next batch.

use std::collections::{BTreeMap, VecDeque};

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

/// Checks a parent's watermarks against what it acknowledged: no tier above holds more
/// of this node's log than the parent (`through`), nor more than the tier below it.
pub fn check_above(through: u64, above: &[u64]) -> Result<(), String> {
    let mut below = through;
    for (level, &held) in above.iter().enumerate() {
        if held > below {
            return Err(format!(
                "its Ack says tier {} above it holds this log through {held}, past the {below} the tier below holds",
                level + 1
            ));
        }
        below = held;
    }
    Ok(())
}

/// `above` as an `Ack` of `through` may carry it: no tier above past the tier below
/// (what [`check_above`] requires at the child). A parent's own view can be ahead of
/// the Ack it sends: a watermark raised before this session's checkpoint caught up.
pub fn capped(through: u64, above: &[u64]) -> Vec<u64> {
    let mut below = through;
    above
        .iter()
        .map(|&held| {
            below = below.min(held);
            below
        })
        .collect()
}

/// One node's watermarks: its own log durable at each tier above it (`levels[0]` at
/// its parent, from the parent's Acks), and per child the points that carry them over
/// to the child's log. The server's link runtime and the simulator both keep one and
/// feed it the same way: [`Self::set_own`] from the session towards the parent,
/// [`Self::applied`] after each batch of a child is durable, [`Self::above`] for what a
/// child's session sends down ([`crate::link::Session::on_durable_above`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Watermarks {
    levels: Vec<u64>,
    /// Per child: the identity of its log the points are of, and the points.
    children: BTreeMap<String, (String, Durable)>,
}

impl Watermarks {
    /// This node's log durable at each tier above it; empty at the root.
    pub fn levels(&self) -> &[u64] {
        &self.levels
    }

    /// From the session towards the parent: it acknowledged this log through `acked`,
    /// and the tiers above it hold it as `above` says. Whether the levels moved.
    pub fn set_own(&mut self, acked: u64, above: &[u64]) -> bool {
        let moved = self.levels.first() != Some(&acked) || self.levels.get(1..) != Some(above);
        if moved {
            self.levels.clear();
            self.levels.push(acked);
            self.levels.extend_from_slice(above);
        }
        moved
    }

    /// `child`'s log `log_id` through `child_through` is durable here, and this node's
    /// log then ended at `end` (or below): the child's watermarks above this node now.
    /// Points of another log of the child's (it was restored and renewed) are dropped:
    /// they number other entries.
    pub fn applied(&mut self, child: &str, log_id: &str, child_through: u64, end: u64) -> Vec<u64> {
        let entry = self.children.entry(child.to_string()).or_default();
        if entry.0 != log_id {
            *entry = (log_id.to_string(), Durable::default());
        }
        entry.1.note_applied(child_through, end);
        self.above(child)
    }

    /// `child`'s watermarks above this node, from the levels as they are now; the
    /// points no tier needs any more are dropped.
    pub fn above(&mut self, child: &str) -> Vec<u64> {
        let Some((_, durable)) = self.children.get_mut(child) else { return Vec::new() };
        let above = durable.above(&self.levels);
        durable.forget_covered(&self.levels);
        above
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
    fn a_node_carries_its_own_watermarks_over_to_its_children() {
        // A street: the district holds its log through 150 once it acknowledges it.
        let mut marks = Watermarks::default();
        assert_eq!(marks.applied("c", "log-1", 10, 100), Vec::<u64>::new());
        assert!(marks.set_own(150, &[]));
        assert!(!marks.set_own(150, &[]));
        assert_eq!(marks.above("c"), vec![10]);
        assert_eq!(marks.applied("c", "log-1", 20, 200), vec![10]);
        assert!(marks.set_own(200, &[]));
        assert_eq!(marks.above("c"), vec![20]);
        assert_eq!(marks.above("another"), Vec::<u64>::new());
        assert_eq!(marks.levels(), &[200]);
        // The child's log renewed: the old points say nothing of its new entries.
        assert_eq!(marks.applied("c", "log-2", 3, 210), vec![0]);
    }

    #[test]
    fn an_ack_never_claims_more_above_than_it_acknowledges() {
        assert_eq!(capped(5, &[9, 7, 2]), vec![5, 5, 2]);
        assert_eq!(capped(10, &[8, 9]), vec![8, 8]);
        assert_eq!(check_above(5, &capped(5, &[9, 7, 2])), Ok(()));
    }

    #[test]
    fn watermarks_past_what_the_tier_below_holds_are_refused() {
        assert_eq!(check_above(10, &[10, 7]), Ok(()));
        assert_eq!(check_above(10, &[]), Ok(()));
        let err = check_above(10, &[11]).unwrap_err();
        assert!(err.contains("tier 1 above it holds this log through 11, past the 10"), "{err}");
        let err = check_above(10, &[5, 6]).unwrap_err();
        assert!(err.contains("tier 2"), "{err}");
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
