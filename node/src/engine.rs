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

use crate::error::NodeError;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{Effect, Event, Replica, ReplicaConfig, Written};
use linli_core::schema::Registries;
use linli_core::store::{RocksStore, Storage, StoreBatch};
use linli_core::views::Views;
use linli_core::write::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

pub struct EngineConfig {
    pub replica: ReplicaConfig,
    pub registries: Registries,
    pub data_dir: PathBuf,
    pub queue_max: usize,
    pub write_batch_max: usize,
    pub batches_in_flight_max: usize,
    /// Idle time after which the writer does background work (compaction).
    pub tick: Duration,
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
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

enum Request {
    Write(Write, Reply<Written>),
    Get(RecordKey, Reply<Option<Record>>),
    Views(Reply<Views>),
    Recount(Reply<Views>),
    /// Everything queued before it is answered; then the threads end.
    Shutdown,
}

/// A batch for the committer, with the answers to release once it is durable.
struct Commit {
    batch: StoreBatch,
    answers: Vec<(Reply<Written>, Result<Written, NodeError>)>,
}

/// Why the engine stopped, shared by its two threads.
type StopReason = Arc<Mutex<Option<String>>>;

fn stop_reason(stopped: &StopReason) -> Option<String> {
    stopped.lock().map(|guard| guard.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
}

/// A cloneable way to talk to the engine from any thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: SyncSender<Request>,
    stopped: StopReason,
}

pub struct Engine {
    handle: EngineHandle,
    writer: Option<JoinHandle<()>>,
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1)
}

impl Engine {
    /// Opens the store and starts the writer and committer threads.
    pub fn start(mut config: EngineConfig) -> Result<Self, NodeError> {
        // Used only if the store is new: a wiped disk gets a new Automerge actor.
        config.replica.incarnation =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let store = RocksStore::open(&config.data_dir)?;
        let replica = Replica::open(config.replica, config.registries, &store)?;
        let stopped: StopReason = Arc::new(Mutex::new(None));
        // One batch is with the committer; the channel holds the others in flight.
        let (commit_tx, commit_rx) = sync_channel::<Commit>(config.batches_in_flight_max.max(1) - 1);
        let (done_tx, done_rx) = sync_channel::<()>(2 * config.batches_in_flight_max.max(1) + 2);
        let committer = {
            let store = store.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name("linli-commit".into())
                .spawn(move || commit_loop(store, commit_rx, done_tx, stopped))
                .map_err(NodeError::Spawn)?
        };
        let (tx, rx) = sync_channel(config.queue_max.max(1));
        let writer = Writer {
            replica,
            store,
            requests: rx,
            commits: Some(commit_tx),
            done: done_rx,
            in_flight: 0,
            batch_max: config.write_batch_max.max(1),
            tick: config.tick,
            stopped: stopped.clone(),
            committer: Some(committer),
        };
        let writer = std::thread::Builder::new()
            .name("linli-engine".into())
            .spawn(move || writer.run())
            .map_err(NodeError::Spawn)?;
        Ok(Self { handle: EngineHandle { tx, stopped }, writer: Some(writer) })
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
            let _ = self.handle.tx.send(Request::Shutdown);
            let _ = writer.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

impl EngineHandle {
    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, NodeError> {
        let gone = || NodeError::Stopped { reason: stop_reason(&self.stopped) };
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| gone())?;
        answer.blocking_recv().map_err(|_| gone())?
    }

    /// Writes one record and returns once it is durable.
    pub fn write(&self, write: Write) -> Result<Written, NodeError> {
        self.call(|reply| Request::Write(write, reply))
    }

    pub fn get(&self, key: RecordKey) -> Result<Option<Record>, NodeError> {
        self.call(|reply| Request::Get(key, reply))
    }

    /// The maintained views.
    pub fn views(&self) -> Result<Views, NodeError> {
        self.call(Request::Views)
    }

    /// The views recounted from the stored documents.
    pub fn recount(&self) -> Result<Views, NodeError> {
        self.call(Request::Recount)
    }
}

fn commit_loop(mut store: RocksStore, commits: Receiver<Commit>, done: SyncSender<()>, stopped: StopReason) {
    while let Ok(Commit { batch, answers }) = commits.recv() {
        let failed = stop_reason(&stopped);
        let result = match failed {
            Some(reason) => Err(reason),
            // Nothing to persist (every write refused): no sync, but still in order.
            None if batch.is_empty() => Ok(()),
            None => store.commit(&batch).map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) => {
                for (reply, answer) in answers {
                    let _ = reply.send(answer);
                }
            }
            Err(reason) => {
                tracing::error!(error = %reason, "commit failed; the engine stops");
                if let Ok(mut guard) = stopped.lock() {
                    guard.get_or_insert(reason.clone());
                }
                for (reply, _) in answers {
                    let _ = reply.send(Err(NodeError::Stopped { reason: Some(reason.clone()) }));
                }
            }
        }
        if done.send(()).is_err() {
            return;
        }
    }
}

struct Writer {
    replica: Replica,
    /// For reads only; the committer writes.
    store: RocksStore,
    requests: Receiver<Request>,
    commits: Option<SyncSender<Commit>>,
    done: Receiver<()>,
    in_flight: usize,
    batch_max: usize,
    tick: Duration,
    stopped: StopReason,
    committer: Option<JoinHandle<()>>,
}

impl Writer {
    fn run(mut self) {
        let mut carry: Option<Request> = None;
        loop {
            self.reap();
            let first = match carry.take() {
                Some(request) => request,
                None => match self.requests.recv_timeout(self.tick) {
                    Ok(request) => request,
                    Err(RecvTimeoutError::Timeout) => {
                        self.background();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
            };
            match first {
                Request::Write(write, reply) => {
                    let mut writes = vec![(write, reply)];
                    while writes.len() < self.batch_max {
                        match self.requests.try_recv() {
                            Ok(Request::Write(write, reply)) => writes.push((write, reply)),
                            Ok(other) => {
                                carry = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.write_batch(writes);
                }
                Request::Shutdown => break,
                read => {
                    // Reads see only what is durable.
                    self.drain();
                    self.read(read);
                }
            }
        }
        self.drain();
        // Closing the channel ends the committer once it has committed everything.
        self.commits = None;
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }

    fn stopped_error(&self) -> NodeError {
        NodeError::Stopped { reason: stop_reason(&self.stopped) }
    }

    /// Counts the batches the committer has finished, without waiting.
    fn reap(&mut self) {
        while self.in_flight > 0 && self.done.try_recv().is_ok() {
            self.in_flight -= 1;
        }
    }

    /// Waits until every batch sent to the committer is durable (or failed).
    fn drain(&mut self) {
        while self.in_flight > 0 {
            if self.done.recv().is_err() {
                self.in_flight = 0;
                return;
            }
            self.in_flight -= 1;
        }
    }

    fn send(&mut self, commit: Commit) {
        let Some(commits) = &self.commits else { return };
        if let Err(rejected) = commits.send(commit) {
            // The committer is gone: nothing can become durable any more.
            for (reply, _) in rejected.0.answers {
                let _ = reply.send(Err(NodeError::Stopped { reason: Some("the committer thread ended".into()) }));
            }
            return;
        }
        self.in_flight += 1;
    }

    fn write_batch(&mut self, writes: Vec<(Write, Reply<Written>)>) {
        if stop_reason(&self.stopped).is_some() {
            for (_, reply) in writes {
                let _ = reply.send(Err(self.stopped_error()));
            }
            return;
        }
        if self.replica.cache_over_bound() {
            self.drain();
            self.replica.evict();
        }
        let batch_size = writes.len();
        let (writes, replies): (Vec<Write>, Vec<Reply<Written>>) = writes.into_iter().unzip();
        let event = Event::Writes {
            writes: writes.into_iter().enumerate().map(|(i, w)| (i as u64, w)).collect(),
            now_ms: wall_ms(),
        };
        let mut batch = StoreBatch::default();
        let mut replies: Vec<Option<Reply<Written>>> = replies.into_iter().map(Some).collect();
        let mut answers = Vec::with_capacity(batch_size);
        for effect in self.replica.step(&self.store, event) {
            match effect {
                Effect::Persist(persist) => batch.extend(persist),
                Effect::Written { request, result } => {
                    if let Some(reply) = replies.get_mut(request as usize).and_then(Option::take) {
                        answers.push((reply, result.map_err(NodeError::from)));
                    }
                }
                Effect::Applied { .. } => {}
            }
        }
        tracing::trace!(batch_size, "write batch prepared");
        self.send(Commit { batch, answers });
    }

    fn background(&mut self) {
        if stop_reason(&self.stopped).is_some() {
            return;
        }
        let mut batch = StoreBatch::default();
        for effect in self.replica.step(&self.store, Event::Tick { now_ms: wall_ms() }) {
            if let Effect::Persist(persist) = effect {
                batch.extend(persist);
            }
        }
        if !batch.is_empty() {
            self.send(Commit { batch, answers: Vec::new() });
        }
    }

    fn read(&mut self, request: Request) {
        // After a failed commit memory may be ahead of disk: answer nothing from it.
        let stopped = stop_reason(&self.stopped).is_some();
        match request {
            Request::Get(_, reply) if stopped => {
                let _ = reply.send(Err(self.stopped_error()));
            }
            Request::Views(reply) | Request::Recount(reply) if stopped => {
                let _ = reply.send(Err(self.stopped_error()));
            }
            Request::Get(key, reply) => {
                let _ = reply.send(self.replica.get(&self.store, &key).map_err(NodeError::from));
            }
            Request::Views(reply) => {
                let _ = reply.send(Ok(self.replica.views().clone()));
            }
            Request::Recount(reply) => {
                let _ = reply.send(self.replica.recount(&self.store).map_err(NodeError::from));
            }
            Request::Write(..) | Request::Shutdown => {}
        }
    }
}
