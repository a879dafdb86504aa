//! Batches that arrived while the engine applied the one before them are applied as
//! one. A receiver applies one batch at a time, and the sender keeps up to a window
//! of batches in flight: when the receiver is the slower side, each batch it takes is
//! small (one of the sender's write steps), and the per-batch cost (an engine step,
//! a synced write, Automerge's per-call work on every document) is paid for every
//! one. Joined, the batches waiting pay it once, and a document's changes from all of
//! them merge in one call.
//!
//! Only consecutive batches join, and only while the sum stays within the bounds of
//! one batch: a batch that would break the protocol or a bound on its own is given
//! back, so the session refuses it as it would have (see `session::receive`).

use super::Frame;
use super::limits::{BATCH_DOCS_MAX, BATCH_ENTRIES_BOUND};
use std::collections::HashSet;

/// Adds `next` to `batch` when both are batches, `next`'s entries all follow
/// `batch`'s `through`, and the two stay within one batch's bounds (`None`); gives
/// `next` back otherwise. The joined batch covers the log through `next`'s `through`
/// and carries its fingerprint.
pub fn coalesce(batch: &mut Frame, next: Frame) -> Option<Frame> {
    let Frame::Batch { entries, through, fingerprint } = batch else { return Some(next) };
    let Frame::Batch { entries: more, through: next_through, fingerprint: next_fingerprint } = &next else {
        return Some(next);
    };
    let follows = *next_through > *through && more.iter().all(|entry| entry.seq > *through);
    if !follows || entries.len() + more.len() > BATCH_ENTRIES_BOUND {
        return Some(next);
    }
    let docs: HashSet<_> = entries.iter().chain(more).map(|entry| &entry.doc).collect();
    if docs.len() > BATCH_DOCS_MAX {
        return Some(next);
    }
    let (next_through, next_fingerprint) = (*next_through, *next_fingerprint);
    let Frame::Batch { entries: more, .. } = next else { unreachable!("matched as a batch above") };
    entries.extend(more);
    *through = next_through;
    *fingerprint = next_fingerprint;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocId;
    use crate::store::LogEntry;

    fn entry(seq: u64, doc: usize) -> LogEntry {
        let doc = DocId::new(&format!("c{doc}"), "requests", "2026-11").expect("doc id");
        LogEntry { seq, doc, origin: None, changes: vec![vec![1]], traces: Vec::new() }
    }

    fn batch(seqs: std::ops::Range<u64>, through: u64) -> Frame {
        Frame::Batch { entries: seqs.map(|seq| entry(seq, seq as usize)).collect(), through, fingerprint: through }
    }

    #[test]
    fn consecutive_batches_join_through_the_last() {
        let mut joined = batch(1..4, 5);
        assert_eq!(coalesce(&mut joined, batch(6..8, 9)), None);
        // A batch of skipped entries only still moves the checkpoint.
        assert_eq!(coalesce(&mut joined, batch(10..10, 12)), None);
        let Frame::Batch { entries, through, fingerprint } = joined else { panic!("not a batch") };
        assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 6, 7]);
        assert_eq!((through, fingerprint), (12, 12));
    }

    #[test]
    fn what_would_break_a_rule_is_given_back() {
        let mut joined = batch(1..4, 5);
        let ack = Frame::Ack { through: 3, above: Vec::new() };
        assert_eq!(coalesce(&mut joined, ack.clone()), Some(ack), "only batches join");
        let replay = batch(4..6, 6);
        assert_eq!(coalesce(&mut joined, replay.clone()), Some(replay), "entry 4 is within the first batch");
        let behind = batch(6..6, 5);
        assert_eq!(coalesce(&mut joined, behind.clone()), Some(behind), "through does not move");
        let big = batch(6..(6 + BATCH_ENTRIES_BOUND as u64), 6 + BATCH_ENTRIES_BOUND as u64);
        assert_eq!(coalesce(&mut joined, big.clone()), Some(big), "over the entries of one batch");
        let mut wide = batch(1..(BATCH_DOCS_MAX as u64 + 1), BATCH_DOCS_MAX as u64);
        let one_more = batch((BATCH_DOCS_MAX as u64 + 1)..(BATCH_DOCS_MAX as u64 + 2), BATCH_DOCS_MAX as u64 + 1);
        assert_eq!(coalesce(&mut wide, one_more.clone()), Some(one_more), "over the documents of one batch");
        assert_eq!(joined, batch(1..4, 5), "nothing given back was joined");
    }
}
