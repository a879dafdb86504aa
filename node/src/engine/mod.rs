//! The durable engine: a writer thread that owns the replica, and a committer thread
//! that makes its batches durable.
//!
//! Requests arrive on a bounded queue. The writer takes the first, then drains every
//! write already waiting (up to `write_batch_max`) and runs them as one engine step:
//! one Automerge change per touched document, one RocksDB `WriteBatch`. The batch and
//! its answers go to the committer, which writes and syncs the WAL and only then answers
//! the writers. Meanwhile the writer prepares the next batch: fsync and acknowledgement
//! overlap the next batch's CPU work. Under load batches grow and share syncs; alone, a
//! writer pays one sync.
//!
//! Bounds and order:
//! - the request queue holds `queue_max` requests; a full queue blocks senders;
//! - at most `batches_in_flight_max` batches (default 1) are with the committer; past
//!   that the writer waits (backpressure from the disk), and writes gather meanwhile
//!   into a larger next batch;
//! - batches commit in the order they were made, so an answer never overtakes an
//!   earlier batch's;
//! - reads and cache eviction wait until every batch in flight is durable, so they
//!   never see, or drop, state the disk does not hold yet;
//! - a failed commit stops the engine: that batch and every later request get
//!   [`NodeError::Stopped`] with the reason; a restart recovers from disk.
//!
//! Every other engine event is one step, answered like writes, after its batch is
//! durable: changes from links (`apply_async`; consecutive ones share a batch), sync
//! protocol steps, the node's named values (`put_meta_async`), forgetting documents
//! and splits of a community. Every durable batch that adds to the log moves
//! [`EngineHandle::log_end`], which wakes the links' senders. Async callers (gRPC
//! handlers, links) use the `*_async` methods.
//!
//! Queries read the views in place: [`EngineHandle::read_views_async`] runs a closure on
//! the engine thread, after the batches in flight are durable, and sends back only its
//! answer, so nothing is cloned and a query holds the writer for the time it takes
//! (bounded by the views it reads, a few ms at a district). Every durable batch that
//! moved the views bumps [`EngineHandle::views_changed`], which wakes the watches.
//!
//! By job: `request` (what travels on the queue, answers held until durable),
//! `handle` (the handle and its calls), `writer` (the writer loop and its batching),
//! `commit` (the committer), `reads` (read calls and how the writer runs them).

mod clock;
mod commit;
mod handle;
mod reads;
mod recent_log;
mod request;
mod writer;

pub use handle::EngineHandle;
pub use request::{Applied, SyncStep};

use crate::error::NodeError;
use crate::metrics::NodeMetrics;
use linli_core::replica::{Replica, ReplicaConfig};
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_store_rocks::RocksStore;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use writer::Writer;

pub use clock::WallClock;

pub struct EngineConfig {
    pub replica: ReplicaConfig,
    pub registries: Registries,
    pub data_dir: PathBuf,
    pub queue_max: usize,
    pub write_batch_max: usize,
    pub batches_in_flight_max: usize,
    /// Idle time after which the writer does background work (compaction).
    pub tick: Duration,
    /// What the engine's steps are stamped with.
    pub clock: WallClock,
    /// The store's write buffers and block cache.
    pub store_memory: linli_store_rocks::StoreMemory,
    /// Bytes of the newest log entries kept decoded for the links' senders (see
    /// `recent_log`); 0 keeps none.
    pub recent_log_bytes_max: usize,
}

impl EngineConfig {
    pub fn new(replica: ReplicaConfig, registries: Registries, data_dir: PathBuf) -> Self {
        Self {
            replica,
            registries,
            data_dir,
            queue_max: 4096,
            write_batch_max: 512,
            batches_in_flight_max: 1,
            tick: Duration::from_millis(200),
            clock: WallClock::default(),
            store_memory: Default::default(),
            recent_log_bytes_max: RECENT_LOG_BYTES_MAX,
        }
    }
}

/// The default of [`EngineConfig::recent_log_bytes_max`].
pub const RECENT_LOG_BYTES_MAX: usize = 8 << 20;

/// Why the engine stopped (`None` while it runs), shared by its two threads and the
/// handles; [`EngineHandle::stopped`] wakes when it is set.
type StopReason = Arc<watch::Sender<Option<String>>>;

fn stop_reason(stopped: &StopReason) -> Option<String> {
    stopped.borrow().clone()
}

/// Records why the engine stopped; the first reason stays, later ones are dropped
/// (they follow from it).
fn set_stopped(stopped: &StopReason, reason: String) {
    stopped.send_if_modified(|current| {
        if current.is_some() {
            return false;
        }
        *current = Some(reason);
        true
    });
}

/// Runs a thread's loop; a panic stops the engine with the panic's message as the
/// reason instead of leaving the handles to find out one call at a time.
fn run_guarded(thread: &str, stopped: &StopReason, body: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        set_stopped(stopped, format!("the {thread} thread panicked: {message}"));
    }
}

pub struct Engine {
    handle: EngineHandle,
    writer: Option<JoinHandle<()>>,
}

impl Engine {
    /// Opens the store and starts the writer and committer threads.
    pub fn start(mut config: EngineConfig) -> Result<Self, NodeError> {
        // This start's Automerge actor, and a new store's log identity.
        config.replica.incarnation =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let mut store = RocksStore::open_with(&config.data_dir, config.store_memory)?;
        let node = config.replica.node.clone();
        let mut replica = Replica::open(config.replica, config.registries, &store)?;
        if let Some(birth) = replica.birth() {
            store.commit(&birth)?;
        }
        let log_id = Arc::new(Mutex::new(replica.log_id().to_string()));
        let stopped: StopReason = Arc::new(watch::channel(None).0);
        let (log_end_tx, log_end) = watch::channel(store.log_last_seq()?);
        let (views_changed_tx, views_changed) = watch::channel(0u64);
        // One batch is with the committer; the channel holds the others in flight.
        let (commit_tx, commit_rx) = sync_channel::<request::Commit>(config.batches_in_flight_max.max(1) - 1);
        let (done_tx, done_rx) = sync_channel::<()>(2 * config.batches_in_flight_max.max(1) + 2);
        let metrics = Arc::new(NodeMetrics::default());
        let recent_log = Arc::new(recent_log::RecentLog::new(config.recent_log_bytes_max));
        let committer = {
            let store = store.clone();
            let recent_log = recent_log.clone();
            let stopped = stopped.clone();
            let metrics = metrics.clone();
            std::thread::Builder::new()
                .name("linli-commit".into())
                .spawn(move || {
                    let guard = stopped.clone();
                    run_guarded("commit", &guard, move || {
                        let watches =
                            commit::Watches { log_end: log_end_tx, views_changed: views_changed_tx, recent_log };
                        commit::commit_loop(store, commit_rx, done_tx, watches, stopped, metrics)
                    })
                })
                .map_err(NodeError::Spawn)?
        };
        let (tx, rx) = sync_channel(config.queue_max.max(1));
        let reader = Arc::new(Mutex::new(Some(store.clone())));
        let handle = EngineHandle {
            tx,
            stopped: stopped.clone(),
            log_end,
            views_changed,
            recent_log,
            store: reader,
            node,
            log_id,
            metrics: metrics.clone(),
        };
        let writer = Writer {
            replica,
            store,
            requests: rx,
            commits: Some(commit_tx),
            done: done_rx,
            in_flight: 0,
            batch_max: config.write_batch_max.max(1),
            tick: config.tick,
            clock: config.clock,
            stopped: stopped.clone(),
            committer: Some(committer),
            metrics,
        };
        let writer = std::thread::Builder::new()
            .name("linli-engine".into())
            .spawn(move || {
                let guard = writer.stopped.clone();
                run_guarded("engine's writer", &guard, move || writer.run())
            })
            .map_err(NodeError::Spawn)?;
        Ok(Self { handle, writer: Some(writer) })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops taking requests, answers those queued, syncs, and waits for the threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // The queue is FIFO: everything sent before this is answered first.
            let _ = self.handle.tx.send(request::Request::Shutdown);
            let _ = writer.join();
            self.handle.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}
