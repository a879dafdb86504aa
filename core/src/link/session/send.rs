//! The sending half of a session: this node's log to the peer, in bounded batches,
//! within the window.

use super::Action;
use crate::link::limits::{BATCH_DOCS_MAX, ENTRY_OVERHEAD_BYTES};
use crate::link::{Frame, LinkLimits};
use crate::store::LogEntry;
use std::collections::VecDeque;

pub(super) struct Sender {
    /// The last entry of this node's log looked at (shipped or skipped).
    cursor: u64,
    /// Its [`LogEntry::fingerprint`], sent with the batch through it (0: not read).
    cursor_fingerprint: u64,
    /// The last `through` sent to the peer.
    announced: u64,
    /// The peer acknowledged this node's log through here.
    acked: u64,
    /// `through` of each batch sent and not acknowledged, oldest first.
    in_flight: VecDeque<u64>,
    /// The log's end when the pending [`Action::ReadLog`] was asked; `None`: no read
    /// is pending.
    reading_to: Option<u64>,
    /// When the cursor last moved: skipped entries are announced once the log has
    /// been quiet for `skipped_flush_ms` from here.
    moved_ms: u64,
}

/// Bytes an entry counts for against `batch_bytes_max`.
pub fn entry_bytes(entry: &LogEntry) -> usize {
    entry.changes.iter().map(Vec::len).sum::<usize>() + ENTRY_OVERHEAD_BYTES
}

impl Sender {
    pub fn new(after: u64, now_ms: u64) -> Self {
        Self {
            cursor: after,
            cursor_fingerprint: 0,
            announced: after,
            acked: after,
            in_flight: VecDeque::new(),
            reading_to: None,
            moved_ms: now_ms,
        }
    }

    pub fn announced(&self) -> u64 {
        self.announced
    }

    pub fn acked(&self) -> u64 {
        self.acked
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn window_full(&self, limits: &LinkLimits) -> bool {
        self.in_flight.len() >= limits.window_batches_max
    }

    pub fn poll(&mut self, limits: &LinkLimits, log_end: u64, now_ms: u64) -> Option<Action> {
        if self.reading_to.is_some() || self.window_full(limits) {
            return None;
        }
        if self.cursor < log_end {
            self.reading_to = Some(log_end);
            return Some(Action::ReadLog { after: self.cursor, entries_max: limits.batch_entries_max });
        }
        if self.cursor > self.announced && now_ms >= self.moved_ms.saturating_add(limits.skipped_flush_ms) {
            return Some(Action::Send(self.batch(Vec::new())));
        }
        None
    }

    pub fn deadline_ms(&self, limits: &LinkLimits) -> Option<u64> {
        let waiting = self.reading_to.is_none() && !self.window_full(limits) && self.cursor > self.announced;
        waiting.then(|| self.moved_ms.saturating_add(limits.skipped_flush_ms))
    }

    pub fn on_log(
        &mut self,
        limits: &LinkLimits,
        entries: Vec<LogEntry>,
        ships: impl Fn(&LogEntry) -> bool,
        now_ms: u64,
    ) -> Option<Action> {
        let reading_to = self.reading_to.take().unwrap_or(self.cursor);
        self.moved_ms = now_ms;
        if entries.is_empty() {
            // The log ended before the end it announced: nothing is there to ship.
            // Never the case while entries are kept for good; moving on keeps the
            // link from asking for the same empty range again.
            tracing::warn!(after = self.cursor, log_end = reading_to, "log read found nothing before its end");
            if reading_to > self.cursor {
                self.cursor = reading_to;
                self.cursor_fingerprint = 0;
            }
            return None;
        }
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        let mut docs = std::collections::HashSet::new();
        let after = self.cursor;
        // The fingerprint of the last entry the cursor passes, skipped or shipped: made
        // once a read, not once an entry (a district's link skips most of its log).
        let mut passed: Option<LogEntry> = None;
        for entry in entries.into_iter().filter(|entry| entry.seq > after) {
            let size = entry_bytes(&entry);
            if !batch.is_empty() && bytes + size > limits.batch_bytes_max {
                break;
            }
            let shipped = ships(&entry);
            // The peer refuses a batch over it; the next batch takes this entry.
            if docs.len() >= BATCH_DOCS_MAX && shipped && !docs.contains(&entry.doc) {
                break;
            }
            self.cursor = entry.seq;
            if shipped {
                bytes += size;
                docs.insert(entry.doc.clone());
                batch.push(entry);
                passed = None;
            } else {
                passed = Some(entry);
            }
            if batch.len() >= limits.batch_entries_max {
                break;
            }
        }
        if let Some(last) = passed.as_ref().or(batch.last()) {
            self.cursor_fingerprint = last.fingerprint();
        }
        if batch.is_empty() {
            return None;
        }
        tracing::debug!(entries = batch.len(), bytes, through = self.cursor, "batch");
        Some(Action::Send(self.batch(batch)))
    }

    /// A batch through the cursor, into the window.
    fn batch(&mut self, entries: Vec<LogEntry>) -> Frame {
        self.announced = self.cursor;
        self.in_flight.push_back(self.cursor);
        Frame::Batch { entries, through: self.cursor, fingerprint: self.cursor_fingerprint }
    }

    /// The peer acknowledged `through`: the batches it covers leave the window.
    pub fn on_ack(&mut self, through: u64) -> Result<(), String> {
        if through > self.announced {
            return Err(format!("its Ack names entry {through}, past {} sent", self.announced));
        }
        while self.in_flight.front().is_some_and(|&sent| sent <= through) {
            self.in_flight.pop_front();
        }
        self.acked = self.acked.max(through);
        Ok(())
    }
}
