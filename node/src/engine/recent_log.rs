//! The newest entries of the node's log, decoded, shared by every link's sender.
//!
//! Without it each link read every new entry from RocksDB and decoded it on its own:
//! at a district of 44 streets, 44 iterator reads and decodes of each entry (malloc
//! and key compares were a third of the district's CPU), each on a blocking thread
//! (a hand-off per read). The committer puts a batch's entries here once they are
//! durable, before the log's end moves, so a sender woken by the move finds them here
//! and copies them out under a short lock, on its own task.
//!
//! Bounded by the bytes of the entries it holds (`memory.log_cache_mib`, default 8
//! MiB: several seconds of a district's stress load); past it the oldest go. A link
//! further behind (a catch-up, a child back from a cut) reads RocksDB as before.
//! Entries are held in sequence: a batch that does not follow the newest held one
//! (the log renewed) empties it first.

use linli_core::store::LogEntry;
use std::collections::VecDeque;
use std::sync::Mutex;

pub struct RecentLog {
    held: Mutex<Held>,
    bytes_max: usize,
}

#[derive(Default)]
struct Held {
    entries: VecDeque<LogEntry>,
    bytes: usize,
}

impl RecentLog {
    pub fn new(bytes_max: usize) -> Self {
        Self { held: Mutex::new(Held::default()), bytes_max }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Held entries are whole or absent: a panic elsewhere cannot leave them torn.
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a durable batch's entries (in sequence), dropping the oldest past the
    /// bound; returns the bytes held after.
    pub fn append(&self, entries: &[LogEntry]) -> usize {
        let mut held = self.held();
        if self.bytes_max == 0 || entries.is_empty() {
            return held.bytes;
        }
        for entry in entries {
            if held.entries.back().is_some_and(|last| last.seq + 1 != entry.seq) {
                *held = Held::default();
            }
            held.bytes += entry.encoded_len();
            held.entries.push_back(entry.clone());
        }
        while held.bytes > self.bytes_max {
            let Some(oldest) = held.entries.pop_front() else { break };
            held.bytes = held.bytes.saturating_sub(oldest.encoded_len());
        }
        held.bytes
    }

    /// Up to `max` entries with `seq > after`, from `after + 1` on, if this holds
    /// `after + 1`; `None` sends the reader to the store.
    pub fn after(&self, after: u64, max: usize) -> Option<Vec<LogEntry>> {
        let held = self.held();
        let first = held.entries.front()?.seq;
        let index = usize::try_from(after.checked_add(1)?.checked_sub(first)?).ok()?;
        if index >= held.entries.len() || max == 0 {
            return None;
        }
        Some(held.entries.range(index..).take(max).cloned().collect())
    }

    /// Entries and bytes held.
    #[cfg(test)]
    pub fn size(&self) -> (usize, usize) {
        let held = self.held();
        (held.entries.len(), held.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::ids::DocId;

    fn entry(seq: u64, bytes: usize) -> LogEntry {
        let doc = DocId::new("lg-pingdi-pingdi", "requests", "2026-11").expect("doc id");
        LogEntry { seq, doc, origin: None, changes: vec![vec![7; bytes]], traces: Vec::new() }
    }

    fn seqs(entries: Option<Vec<LogEntry>>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn serves_what_it_holds_and_sends_the_rest_to_the_store() {
        let recent = RecentLog::new(1 << 20);
        assert_eq!(seqs(recent.after(0, 10)), None, "empty: the store answers");
        recent.append(&[entry(5, 10), entry(6, 10), entry(7, 10)]);
        assert_eq!(seqs(recent.after(4, 10)), Some(vec![5, 6, 7]));
        assert_eq!(seqs(recent.after(5, 1)), Some(vec![6]));
        assert_eq!(seqs(recent.after(3, 10)), None, "entry 4 is older than what it holds");
        assert_eq!(seqs(recent.after(7, 10)), None, "nothing past the newest");
        assert_eq!(seqs(recent.after(u64::MAX, 10)), None);
    }

    #[test]
    fn the_oldest_go_past_the_byte_bound_and_a_gap_empties_it() {
        let one = entry(1, 1_000).encoded_len();
        let recent = RecentLog::new(3 * one);
        recent.append(&(1..=5).map(|seq| entry(seq, 1_000)).collect::<Vec<_>>());
        assert_eq!(recent.size(), (3, 3 * one));
        assert_eq!(seqs(recent.after(2, 10)), Some(vec![3, 4, 5]));
        assert_eq!(seqs(recent.after(1, 10)), None, "entry 2 went past the bound");
        // A renewed log starts elsewhere: what was held is not its past.
        recent.append(&[entry(40, 1_000)]);
        assert_eq!(seqs(recent.after(39, 10)), Some(vec![40]));
        assert_eq!(seqs(recent.after(4, 10)), None);
        assert_eq!(recent.size(), (1, one));
    }
}
