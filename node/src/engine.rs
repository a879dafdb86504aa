//! The durable engine: one writer thread owns the replica and its store.
//!
//! Requests arrive on a bounded queue. The thread takes the first, then drains every
//! write already waiting (up to `write_batch_max`) and runs them as one engine step:
//! one Automerge change per touched document, one RocksDB `WriteBatch`, one WAL sync.
//! Only then are the writers answered. Under load, batches grow and syncs are shared;
//! alone, a writer pays one sync.
//!
//! Bounds: the queue holds `queue_max` requests; a full queue blocks senders
//! (backpressure). A failed commit stops the thread: every waiting and later request
//! gets [`NodeError::Stopped`] with the reason, and a restart recovers from disk.

use crate::error::NodeError;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{Effect, Event, ReplicaConfig, StoredReplica, Written};
use linli_core::schema::Registries;
use linli_core::store::RocksStore;
use linli_core::views::Views;
use linli_core::write::Write;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

pub struct EngineConfig {
    pub replica: ReplicaConfig,
    pub registries: Registries,
    pub data_dir: PathBuf,
    pub queue_max: usize,
    pub write_batch_max: usize,
    /// Idle time after which the thread does background work (compaction).
    pub tick: Duration,
}

impl EngineConfig {
    pub fn new(replica: ReplicaConfig, registries: Registries, data_dir: PathBuf) -> Self {
        Self { replica, registries, data_dir, queue_max: 4096, write_batch_max: 512, tick: Duration::from_millis(200) }
    }
}

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

enum Request {
    Write(Write, Reply<Written>),
    Get(RecordKey, Reply<Option<Record>>),
    Views(Reply<Views>),
    Recount(Reply<Views>),
    /// Everything queued before it is answered; then the thread ends.
    Shutdown,
}

/// A cloneable way to talk to the engine from any thread.
#[derive(Clone)]
pub struct EngineHandle {
    tx: SyncSender<Request>,
}

pub struct Engine {
    handle: EngineHandle,
    thread: Option<JoinHandle<()>>,
}

fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1)
}

impl Engine {
    /// Opens the store and starts the writer thread.
    pub fn start(mut config: EngineConfig) -> Result<Self, NodeError> {
        // Used only if the store is new: a wiped disk gets a new Automerge actor.
        config.replica.incarnation =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let store = RocksStore::open(&config.data_dir)?;
        let replica = StoredReplica::open(config.replica, config.registries, store)?;
        let (tx, rx) = sync_channel(config.queue_max.max(1));
        let batch_max = config.write_batch_max.max(1);
        let tick = config.tick;
        let thread = std::thread::Builder::new()
            .name("linli-engine".into())
            .spawn(move || run(replica, rx, batch_max, tick))
            .map_err(NodeError::Spawn)?;
        Ok(Self { handle: EngineHandle { tx }, thread: Some(thread) })
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Stops taking requests, finishes those queued, and waits for the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // Queued requests are answered first: the queue is FIFO. Handles used
            // after this get `Stopped`.
            let _ = self.handle.tx.send(Request::Shutdown);
            let _ = thread.join();
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
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| NodeError::Stopped { reason: None })?;
        answer.blocking_recv().map_err(|_| NodeError::Stopped { reason: None })?
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

fn run(mut replica: StoredReplica<RocksStore>, rx: Receiver<Request>, batch_max: usize, tick: Duration) {
    let mut stopped: Option<String> = None;
    let mut carry: Option<Request> = None;
    loop {
        let first = match carry.take() {
            Some(request) => request,
            None => match rx.recv_timeout(tick) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    if stopped.is_none()
                        && let Err(e) = replica.tick(wall_ms())
                    {
                        tracing::error!(error = %e, "compaction commit failed; engine stops");
                        stopped = Some(e.to_string());
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let stopped_err = |stopped: &Option<String>| NodeError::Stopped { reason: stopped.clone() };
        match first {
            Request::Write(write, reply) => {
                let mut writes = vec![write];
                let mut replies = vec![reply];
                while writes.len() < batch_max {
                    match rx.try_recv() {
                        Ok(Request::Write(write, reply)) => {
                            writes.push(write);
                            replies.push(reply);
                        }
                        Ok(other) => {
                            carry = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                if stopped.is_some() {
                    for reply in replies {
                        let _ = reply.send(Err(stopped_err(&stopped)));
                    }
                    continue;
                }
                let batch_size = writes.len();
                let event = Event::Writes {
                    writes: writes.into_iter().enumerate().map(|(i, w)| (i as u64, w)).collect(),
                    now_ms: wall_ms(),
                };
                match replica.step(event) {
                    Ok(effects) => {
                        tracing::trace!(batch_size, "write batch committed");
                        let mut replies: Vec<Option<Reply<Written>>> = replies.into_iter().map(Some).collect();
                        for effect in effects {
                            if let Effect::Written { request, result } = effect
                                && let Some(reply) = replies.get_mut(request as usize).and_then(Option::take)
                            {
                                let _ = reply.send(result.map_err(NodeError::from));
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "write batch commit failed; engine stops");
                        stopped = Some(e.to_string());
                        for reply in replies {
                            let _ = reply.send(Err(stopped_err(&stopped)));
                        }
                    }
                }
            }
            // After a failed commit memory may be ahead of disk: answer nothing from it.
            Request::Get(_, reply) if stopped.is_some() => {
                let _ = reply.send(Err(stopped_err(&stopped)));
            }
            Request::Views(reply) | Request::Recount(reply) if stopped.is_some() => {
                let _ = reply.send(Err(stopped_err(&stopped)));
            }
            Request::Get(key, reply) => {
                let result = replica.replica.get(&replica.store, &key).map_err(NodeError::from);
                let _ = reply.send(result);
            }
            Request::Views(reply) => {
                let _ = reply.send(Ok(replica.replica.views().clone()));
            }
            Request::Recount(reply) => {
                let result = replica.replica.recount(&replica.store).map_err(NodeError::from);
                let _ = reply.send(result);
            }
            Request::Shutdown => return,
        }
    }
}
