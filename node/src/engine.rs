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
//! Changes from links (`apply`), sync protocol steps, forgetting documents and splits
//! of a community are steps of their own, answered like writes: after their batch is
//! durable. Every durable batch that adds to the log moves [`EngineHandle::log_end`],
//! which wakes the links' senders. Async callers (gRPC handlers, links) use the `*_async` methods.
//!
//! Queries read the views in place: [`EngineHandle::read_views_async`] runs a closure on
//! the engine thread, after the batches in flight are durable, and sends back only its
//! answer, so nothing is cloned and a query holds the writer for the time it takes
//! (bounded by the views it reads, a few ms at a district). Every durable batch that
//! moved the views bumps [`EngineHandle::views_changed`], which wakes the watches.

use crate::error::NodeError;
use linli_core::doc::Record;
use linli_core::ids::{DocId, NodeId, RecordKey};
use linli_core::replica::{Effect, Event, Replica, ReplicaConfig, SplitReport, SplitRule, Written};
use linli_core::schema::Registries;
use linli_core::store::{Storage, StoreBatch};
use linli_core::views::Views;
use linli_core::write::Write;
use linli_store_rocks::RocksStore;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};

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

type ViewsReader = Box<dyn FnOnce(Result<(&Views, &Registries), NodeError>) + Send>;

/// Per document, how many of a peer's changes were new here, or why they were refused.
pub type Applied = Vec<(DocId, linli_core::Result<usize>)>;

/// One step of the sync protocol: the message to send next, and what the received
/// one brought.
#[derive(Debug)]
pub struct SyncStep {
    pub reply: Option<Vec<u8>>,
    pub result: linli_core::Result<usize>,
}

enum Request {
    Write(Write, Reply<Written>),
    Apply {
        origin: NodeId,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        meta: Vec<(String, Vec<u8>)>,
        reply: Reply<Applied>,
    },
    Sync {
        peer: NodeId,
        doc: DocId,
        message: Option<Vec<u8>>,
        reply: Reply<SyncStep>,
    },
    Forget {
        owners: BTreeSet<String>,
        reply: Reply<()>,
    },
    Split {
        rule: SplitRule,
        reply: Reply<SplitReport>,
    },
    Get(RecordKey, Reply<Option<Record>>),
    ListPage {
        owner: String,
        registry: String,
        after: Option<RecordKey>,
        limit: usize,
        reply: Reply<Vec<Record>>,
    },
    /// Runs on the engine thread with the views (`None`: the engine stopped).
    ReadViews(ViewsReader),
    Views(Reply<Views>),
    Recount(Reply<Views>),
    Materialize(Reply<BTreeMap<String, serde_json::Value>>),
    /// Everything queued before it is answered; then the threads end.
    Shutdown,
}

/// An answer held until its batch is durable.
enum Answer {
    Written(Reply<Written>, Result<Written, NodeError>),
    Applied(Reply<Applied>, Applied),
    Synced(Reply<SyncStep>, SyncStep),
    Done(Reply<()>),
    Split(Reply<SplitReport>, Result<SplitReport, NodeError>),
}

impl Answer {
    fn release(self) {
        let _ = match self {
            Answer::Written(reply, answer) => reply.send(answer).map_err(drop),
            Answer::Applied(reply, applied) => reply.send(Ok(applied)).map_err(drop),
            Answer::Synced(reply, step) => reply.send(Ok(step)).map_err(drop),
            Answer::Done(reply) => reply.send(Ok(())).map_err(drop),
            Answer::Split(reply, answer) => reply.send(answer).map_err(drop),
        };
    }

    fn fail(self, reason: Option<String>) {
        let error = || NodeError::Stopped { reason: reason.clone() };
        let _ = match self {
            Answer::Written(reply, _) => reply.send(Err(error())).map_err(drop),
            Answer::Applied(reply, _) => reply.send(Err(error())).map_err(drop),
            Answer::Synced(reply, _) => reply.send(Err(error())).map_err(drop),
            Answer::Done(reply) => reply.send(Err(error())).map_err(drop),
            Answer::Split(reply, _) => reply.send(Err(error())).map_err(drop),
        };
    }
}

/// A batch for the committer, with the answers to release once it is durable.
struct Commit {
    batch: StoreBatch,
    answers: Vec<Answer>,
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
    log_end: watch::Receiver<u64>,
    /// Bumped by every durable batch that moved the views.
    views_changed: watch::Receiver<u64>,
    /// For reads beside the engine; emptied when it stops, so that the database
    /// closes (and its lock is released) even while handles live on.
    store: Arc<Mutex<Option<RocksStore>>>,
    node: NodeId,
    log_id: String,
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
        let mut store = RocksStore::open(&config.data_dir)?;
        let node = config.replica.node.clone();
        let mut replica = Replica::open(config.replica, config.registries, &store)?;
        if let Some(birth) = replica.birth() {
            store.commit(&birth)?;
        }
        let log_id = replica.actor().to_string();
        let stopped: StopReason = Arc::new(Mutex::new(None));
        let (log_end_tx, log_end) = watch::channel(store.log_last_seq()?);
        let (views_changed_tx, views_changed) = watch::channel(0u64);
        // One batch is with the committer; the channel holds the others in flight.
        let (commit_tx, commit_rx) = sync_channel::<Commit>(config.batches_in_flight_max.max(1) - 1);
        let (done_tx, done_rx) = sync_channel::<()>(2 * config.batches_in_flight_max.max(1) + 2);
        let committer = {
            let store = store.clone();
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name("linli-commit".into())
                .spawn(move || commit_loop(store, commit_rx, done_tx, log_end_tx, views_changed_tx, stopped))
                .map_err(NodeError::Spawn)?
        };
        let (tx, rx) = sync_channel(config.queue_max.max(1));
        let reader = Arc::new(Mutex::new(Some(store.clone())));
        let handle = EngineHandle { tx, stopped: stopped.clone(), log_end, views_changed, store: reader, node, log_id };
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
            let _ = self.handle.tx.send(Request::Shutdown);
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

impl EngineHandle {
    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, NodeError> {
        let gone = || NodeError::Stopped { reason: stop_reason(&self.stopped) };
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| gone())?;
        answer.blocking_recv().map_err(|_| gone())?
    }

    /// As `call`, for async callers: never blocks a runtime thread.
    async fn call_async<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, NodeError> {
        let gone = || NodeError::Stopped { reason: stop_reason(&self.stopped) };
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(make(reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(request)) => {
                // The queue is full: wait for room on a blocking thread (backpressure).
                let tx = self.tx.clone();
                let sent = tokio::task::spawn_blocking(move || tx.send(request).is_ok()).await.map_err(|_| gone())?;
                if !sent {
                    return Err(gone());
                }
            }
            Err(TrySendError::Disconnected(_)) => return Err(gone()),
        }
        answer.await.map_err(|_| gone())?
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The identity of this store's log (its Automerge actor).
    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    /// The store, for reading what is durable (the log, checkpoints); only the engine
    /// writes it. Fails once the engine has stopped.
    pub fn store(&self) -> Result<RocksStore, NodeError> {
        let guard = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.clone().ok_or_else(|| NodeError::Stopped { reason: stop_reason(&self.stopped) })
    }

    /// The last durable log sequence number; changes when a batch adds to the log.
    pub fn log_end(&self) -> watch::Receiver<u64> {
        self.log_end.clone()
    }

    /// Bumped after every durable batch that moved the views; a watcher that looks
    /// late sees only the latest value (intermediate bumps are not queued).
    pub fn views_changed(&self) -> watch::Receiver<u64> {
        self.views_changed.clone()
    }

    /// Runs `read` over the views and the registries on the engine thread, once every
    /// batch in flight is durable, and returns its result. `read` holds the writer
    /// while it runs: it must be bounded (the query module's answers are).
    pub async fn read_views_async<R: Send + 'static>(
        &self,
        read: impl FnOnce(&Views, &Registries) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.call_async(|reply: Reply<R>| {
            Request::ReadViews(Box::new(move |views| {
                let _ = reply.send(views.map(|(views, registries)| read(views, registries)));
            }))
        })
        .await
    }

    /// A page of `owner`'s `registry` (see `Replica::list_page`); no local fields.
    pub async fn list_page_async(
        &self,
        owner: String,
        registry: String,
        after: Option<RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>, NodeError> {
        self.call_async(|reply| Request::ListPage { owner, registry, after, limit, reply }).await
    }

    pub async fn write_async(&self, write: Write) -> Result<Written, NodeError> {
        self.call_async(|reply| Request::Write(write, reply)).await
    }

    pub async fn get_async(&self, key: RecordKey) -> Result<Option<Record>, NodeError> {
        self.call_async(|reply| Request::Get(key, reply)).await
    }

    /// Applies changes from peer `origin` and commits `meta` (its checkpoint) with them.
    pub async fn apply_async(
        &self,
        origin: NodeId,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        meta: Vec<(String, Vec<u8>)>,
    ) -> Result<Applied, NodeError> {
        self.call_async(|reply| Request::Apply { origin, docs, meta, reply }).await
    }

    pub async fn sync_async(&self, peer: NodeId, doc: DocId, message: Option<Vec<u8>>) -> Result<SyncStep, NodeError> {
        self.call_async(|reply| Request::Sync { peer, doc, message, reply }).await
    }

    /// Drops the documents of these owners (see `Event::Forget`).
    pub async fn forget_async(&self, owners: BTreeSet<String>) -> Result<(), NodeError> {
        self.call_async(|reply| Request::Forget { owners, reply }).await
    }

    /// Splits community `from` (see `Event::Split`); answers once the split is durable.
    pub async fn split_async(&self, rule: SplitRule) -> Result<SplitReport, NodeError> {
        self.call_async(|reply| Request::Split { rule, reply }).await
    }

    pub async fn views_async(&self) -> Result<Views, NodeError> {
        self.call_async(Request::Views).await
    }

    pub async fn recount_async(&self) -> Result<Views, NodeError> {
        self.call_async(Request::Recount).await
    }

    /// Every document as JSON, for comparing replicas.
    pub async fn materialize_async(&self) -> Result<BTreeMap<String, serde_json::Value>, NodeError> {
        self.call_async(Request::Materialize).await
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

fn commit_loop(
    mut store: RocksStore,
    commits: Receiver<Commit>,
    done: SyncSender<()>,
    log_end: watch::Sender<u64>,
    views_changed: watch::Sender<u64>,
    stopped: StopReason,
) {
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
                tracing::error!(error = %reason, "commit failed; the engine stops");
                if let Ok(mut guard) = stopped.lock() {
                    guard.get_or_insert(reason.clone());
                }
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

type ApplyRequest = (NodeId, Vec<(DocId, Vec<Vec<u8>>)>, Vec<(String, Vec<u8>)>, Reply<Applied>);

/// Where the answer of a step goes.
enum Pending {
    Synced(Reply<SyncStep>),
    Done(Reply<()>),
    Split(Reply<SplitReport>),
}

impl Answer {
    fn from_pending(pending: Pending) -> Self {
        match pending {
            Pending::Synced(reply) => Answer::Synced(reply, SyncStep { reply: None, result: Ok(0) }),
            Pending::Done(reply) => Answer::Done(reply),
            Pending::Split(reply) => Answer::Split(reply, Ok(SplitReport::default())),
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
                Request::Apply { origin, docs, meta, reply } => {
                    // Group commit for links too: batches from several peers waiting
                    // together share one synced write.
                    let mut applies = vec![(origin, docs, meta, reply)];
                    while applies.len() < self.batch_max {
                        match self.requests.try_recv() {
                            Ok(Request::Apply { origin, docs, meta, reply }) => {
                                applies.push((origin, docs, meta, reply))
                            }
                            Ok(other) => {
                                carry = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    self.apply_batches(applies);
                }
                Request::Sync { peer, doc, message, reply } => {
                    self.step(Event::Sync { peer, doc, message }, Pending::Synced(reply))
                }
                Request::Forget { owners, reply } => self.step(Event::Forget { owners }, Pending::Done(reply)),
                Request::Split { rule, reply } => {
                    let event = Event::Split { rule, now_ms: wall_ms() };
                    self.step(event, Pending::Split(reply))
                }
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
            for answer in rejected.0.answers {
                answer.fail(Some("the committer thread ended".into()));
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
                        answers.push(Answer::Written(reply, result.map_err(NodeError::from)));
                    }
                }
                Effect::Applied { .. } | Effect::Sync { .. } | Effect::Split { .. } => {}
            }
        }
        tracing::trace!(batch_size, "write batch prepared");
        self.send(Commit { batch, answers });
    }

    /// Applies peers' batches as consecutive engine steps committed together.
    fn apply_batches(&mut self, applies: Vec<ApplyRequest>) {
        if stop_reason(&self.stopped).is_some() {
            for (_, _, _, reply) in applies {
                Answer::Applied(reply, Vec::new()).fail(stop_reason(&self.stopped));
            }
            return;
        }
        if self.replica.cache_over_bound() {
            self.drain();
            self.replica.evict();
        }
        let mut batch = StoreBatch::default();
        let mut answers = Vec::with_capacity(applies.len());
        for (origin, docs, meta, reply) in applies {
            let mut applied = Vec::new();
            for effect in self.replica.step(&self.store, Event::Changes { origin, docs, meta }) {
                match effect {
                    Effect::Persist(persist) => batch.extend(persist),
                    Effect::Applied { doc, result } => applied.push((doc, result)),
                    Effect::Written { .. } | Effect::Sync { .. } | Effect::Split { .. } => {}
                }
            }
            answers.push(Answer::Applied(reply, applied));
        }
        self.send(Commit { batch, answers });
    }

    /// Runs one event that is not a local write and answers it once durable.
    fn step(&mut self, event: Event, pending: Pending) {
        if stop_reason(&self.stopped).is_some() {
            Answer::from_pending(pending).fail(stop_reason(&self.stopped));
            return;
        }
        if self.replica.cache_over_bound() {
            self.drain();
            self.replica.evict();
        }
        let mut batch = StoreBatch::default();
        let mut synced = None;
        let mut split = None;
        for effect in self.replica.step(&self.store, event) {
            match effect {
                Effect::Persist(persist) => batch.extend(persist),
                Effect::Sync { reply, result, .. } => synced = Some(SyncStep { reply, result }),
                Effect::Split { result } => split = Some(result),
                Effect::Applied { .. } | Effect::Written { .. } => {}
            }
        }
        let answer = match pending {
            Pending::Synced(reply) => Answer::Synced(reply, synced.unwrap_or(SyncStep { reply: None, result: Ok(0) })),
            Pending::Done(reply) => Answer::Done(reply),
            Pending::Split(reply) => {
                let no_answer = || {
                    let reason = "the engine gave no answer to a split".into();
                    NodeError::Core(linli_core::Error::Corrupt { what: "engine", key: "split".into(), reason })
                };
                Answer::Split(reply, split.map(|r| r.map_err(NodeError::from)).unwrap_or_else(|| Err(no_answer())))
            }
        };
        self.send(Commit { batch, answers: vec![answer] });
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
            Request::ListPage { reply, .. } if stopped => {
                let _ = reply.send(Err(self.stopped_error()));
            }
            Request::ListPage { owner, registry, after, limit, reply } => {
                let page = self.replica.list_page(&self.store, &owner, &registry, after.as_ref(), limit);
                let _ = reply.send(page.map_err(NodeError::from));
            }
            Request::ReadViews(read) if stopped => read(Err(self.stopped_error())),
            Request::ReadViews(read) => read(Ok((self.replica.views(), self.replica.registries()))),
            Request::Views(reply) => {
                let _ = reply.send(Ok(self.replica.views().clone()));
            }
            Request::Recount(reply) => {
                let _ = reply.send(self.replica.recount(&self.store).map_err(NodeError::from));
            }
            Request::Materialize(reply) if stopped => {
                let _ = reply.send(Err(self.stopped_error()));
            }
            Request::Materialize(reply) => {
                let _ = reply.send(self.replica.materialize(&self.store).map_err(NodeError::from));
            }
            Request::Write(..)
            | Request::Apply { .. }
            | Request::Sync { .. }
            | Request::Forget { .. }
            | Request::Split { .. }
            | Request::Shutdown => {}
        }
    }
}
