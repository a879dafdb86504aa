//! The committer thread: makes the writer's batches durable, in the order they were
//! made, and only then releases their answers.
//!
//! Each batch is one RocksDB `WriteBatch` with one WAL sync; an empty batch (every
//! write refused) costs no sync but still keeps its place in the order. A durable
//! batch moves the log's end and bumps the views' counter, which wake the links'
//! senders and the watches. A failed commit stops the engine: that batch, and every
//! later one, is answered with [`NodeError::Stopped`](crate::NodeError::Stopped) and the reason.

use super::recent_log::RecentLog;
use super::request::Commit;
use super::{StopReason, set_stopped, stop_reason};
use crate::metrics::NodeMetrics;
use linli_core::store::Storage;
use linli_store_rocks::RocksStore;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use tokio::sync::watch;

/// What a durable batch moves for the rest of the node.
pub(super) struct Watches {
    /// The log's last durable sequence number, which wakes the links' senders.
    pub log_end: watch::Sender<u64>,
    /// Bumped when a batch moved the views, which wakes the watches.
    pub views_changed: watch::Sender<u64>,
    /// The newest entries, for the senders to read without the store.
    pub recent_log: Arc<RecentLog>,
}

/// The committer's loop; tells the writer on `done` when each batch is finished.
pub(super) fn commit_loop(
    mut store: RocksStore,
    commits: Receiver<Commit>,
    done: SyncSender<()>,
    watches: Watches,
    stopped: StopReason,
    metrics: Arc<NodeMetrics>,
) {
    let Watches { log_end, views_changed, recent_log } = watches;
    while let Ok(Commit { batch, answers, spans }) = commits.recv() {
        let failed = stop_reason(&stopped);
        let result = match failed {
            Some(reason) => Err(reason),
            // Nothing to persist (every write refused): no sync, but still in order.
            None if batch.is_empty() => Ok(()),
            None => {
                let started = std::time::Instant::now();
                let committed = store.commit(&batch).map_err(|e| e.to_string());
                metrics.fsync_seconds.observe_duration(started.elapsed());
                committed
            }
        };
        // They end as the batch is durable.
        drop(spans);
        match result {
            Ok(()) => {
                let log_bytes: usize = batch.log.iter().map(|entry| entry.encoded_len()).sum();
                NodeMetrics::add(&metrics.log_entries_committed, batch.log.len() as u64);
                NodeMetrics::add(&metrics.log_bytes_committed, log_bytes as u64);
                // Before the end moves: a sender it wakes finds the entries there.
                let recent_bytes = recent_log.append(&batch.log);
                NodeMetrics::set(&metrics.recent_log_bytes, recent_bytes as u64);
                if let Some(last) = batch.log.iter().map(|entry| entry.seq).max() {
                    log_end.send_replace(last);
                }
                if !batch.views.is_empty() {
                    views_changed.send_modify(|n| *n += 1);
                }
                for answer in answers {
                    answer.release();
                }
            }
            Err(reason) => {
                // Logged once, by the server that reports it (or by the caller).
                tracing::debug!(error = %reason, "commit failed; the engine stops");
                set_stopped(&stopped, reason.clone());
                for answer in answers {
                    answer.fail(Some(reason.clone()));
                }
            }
        }
        if done.send(()).is_err() {
            return;
        }
    }
}
