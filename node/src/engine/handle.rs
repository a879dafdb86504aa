//! The handle: a cloneable way to talk to the engine from any thread, over its bounded
//! queue. Blocking calls for threads of their own (tests, tools); `*_async` calls for
//! the gRPC handlers and links, which never block a runtime thread.
//!
//! Every engine event other than local writes is one [`EngineHandle::step_async`]: a
//! new event needs only its method here, with the function that reads its answer from
//! the step's effects.

use super::StopReason;
use super::request::{Applied, Reply, Request, StepRequest, SyncStep, TypedReply};
use crate::error::NodeError;
use crate::metrics::NodeMetrics;
use linli_core::ids::{DocId, NodeId};
use linli_core::replica::{Effect, Event, SplitReport, SplitRule, Traces, Written};
use linli_core::write::Write;
use linli_store_rocks::RocksStore;
use std::collections::BTreeSet;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, watch};

/// A cloneable way to talk to the engine from any thread.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) tx: SyncSender<Request>,
    pub(super) stopped: StopReason,
    pub(super) log_end: watch::Receiver<u64>,
    /// Bumped by every durable batch that moved the views.
    pub(super) views_changed: watch::Receiver<u64>,
    /// The newest durable log entries, decoded (see `recent_log`).
    pub(super) recent_log: Arc<super::recent_log::RecentLog>,
    /// For reads beside the engine; emptied when it stops, so that the database
    /// closes (and its lock is released) even while handles live on.
    pub(super) store: Arc<Mutex<Option<RocksStore>>>,
    pub(super) node: NodeId,
    /// The log's identity as of the last renewal ([`Self::renew_log_async`]).
    pub(super) log_id: Arc<Mutex<String>>,
    /// What the engine, its links and its services count.
    pub(super) metrics: Arc<NodeMetrics>,
}

impl EngineHandle {
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Why the engine stopped, `None` while it runs; wakes when it stops (a failed
    /// commit, a thread that panicked), so a server can report it and exit.
    pub fn stopped(&self) -> watch::Receiver<Option<String>> {
        self.stopped.subscribe()
    }

    fn gone(&self) -> NodeError {
        NodeError::Stopped { reason: super::stop_reason(&self.stopped) }
    }

    pub(super) fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, NodeError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| self.gone())?;
        answer.blocking_recv().map_err(|_| self.gone())?
    }

    /// As `call`, for async callers: never blocks a runtime thread.
    pub(super) async fn call_async<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, NodeError> {
        let (reply, answer) = oneshot::channel();
        match self.tx.try_send(make(reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(request)) => {
                // The queue is full: wait for room on a blocking thread (backpressure).
                let tx = self.tx.clone();
                let sent =
                    tokio::task::spawn_blocking(move || tx.send(request).is_ok()).await.map_err(|_| self.gone())?;
                if !sent {
                    return Err(self.gone());
                }
            }
            Err(TrySendError::Disconnected(_)) => return Err(self.gone()),
        }
        answer.await.map_err(|_| self.gone())?
    }

    /// Runs `event` as one engine step and answers, once its batch is durable, with
    /// what `read` finds in the step's effects. `groups`: consecutive steps of this
    /// kind waiting together share one batch and one sync.
    async fn step_async<T: Send + 'static>(
        &self,
        groups: bool,
        event: impl FnOnce(u64) -> Event + Send + 'static,
        read: fn(Vec<Effect>) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        self.traced_step_async(groups, event, read, tracing::Span::none()).await
    }

    /// As `step_async`; the step's span is a child of `span` (see `StepRequest::span`).
    async fn traced_step_async<T: Send + 'static>(
        &self,
        groups: bool,
        event: impl FnOnce(u64) -> Event + Send + 'static,
        read: fn(Vec<Effect>) -> Result<T, NodeError>,
        span: tracing::Span,
    ) -> Result<T, NodeError> {
        self.call_async(|reply| {
            let reply = Box::new(TypedReply { reply, read });
            Request::Step(StepRequest { event: Box::new(event), groups, reply, span })
        })
        .await
    }

    pub fn node(&self) -> &NodeId {
        &self.node
    }

    /// The identity of this store's log, which links name in their checkpoints.
    pub fn log_id(&self) -> String {
        self.log_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Gives the log a new identity if it still is `stale` (see `Event::RenewLog`):
    /// a peer acknowledged entries of it that this store holds otherwise. Answers once
    /// the new identity is durable; later Hellos carry it.
    pub async fn renew_log_async(&self, stale: String) -> Result<String, NodeError> {
        let log_id = self.step_async(false, move |_| Event::RenewLog { stale }, renewed).await?;
        *self.log_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = log_id.clone();
        Ok(log_id)
    }

    /// The store, for reading what is durable (the log, checkpoints); only the engine
    /// writes it. Fails once the engine has stopped.
    pub fn store(&self) -> Result<RocksStore, NodeError> {
        let guard = self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.clone().ok_or_else(|| self.gone())
    }

    /// Up to `max` durable log entries after `after`, if they are among the newest
    /// ones the engine keeps decoded; `None`: read them from the store.
    pub fn recent_log(&self, after: u64, max: usize) -> Option<Vec<linli_core::store::LogEntry>> {
        self.recent_log.after(after, max)
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

    /// Writes one record and returns once it is durable.
    pub fn write(&self, write: Write) -> Result<Written, NodeError> {
        self.call(|reply| Request::Write(write, reply))
    }

    pub async fn write_async(&self, write: Write) -> Result<Written, NodeError> {
        self.call_async(|reply| Request::Write(write, reply)).await
    }

    /// Applies changes from peer `origin` and commits `meta` (its checkpoint) with them.
    /// `actors_refused` and `traces`: see [`Event::Changes`]. `span`: the link's span
    /// of the apply, when it is traced (`Span::none()` otherwise).
    pub async fn apply_async(
        &self,
        origin: NodeId,
        actors_refused: BTreeSet<String>,
        docs: Vec<(DocId, Vec<Vec<u8>>)>,
        traces: Traces,
        meta: Vec<(String, Vec<u8>)>,
        span: tracing::Span,
    ) -> Result<Applied, NodeError> {
        let event = move |now_ms| Event::Changes { origin, actors_refused, docs, traces, meta, now_ms };
        self.traced_step_async(true, event, applied, span).await
    }

    pub async fn sync_async(
        &self,
        peer: NodeId,
        actors_refused: BTreeSet<String>,
        doc: DocId,
        message: Option<Vec<u8>>,
    ) -> Result<SyncStep, NodeError> {
        let event = move |now_ms| Event::Sync { peer, actors_refused, doc, message, now_ms };
        self.step_async(false, event, sync_step).await
    }

    /// Persists the node's named values (a child's subtree, its children, children
    /// that left; see `Event::Meta`); answers once they are durable.
    pub async fn put_meta_async(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), NodeError> {
        self.step_async(false, move |_| Event::Meta { entries }, |_| Ok(())).await
    }

    /// Drops the documents of these owners and deletes the named values `meta` (see
    /// `Event::Forget`).
    pub async fn forget_async(&self, owners: BTreeSet<String>, meta: Vec<String>) -> Result<(), NodeError> {
        self.step_async(false, move |_| Event::Forget { owners, meta }, |_| Ok(())).await
    }

    /// Trims the log through `through` (see `Event::TrimLog`); answers once durable.
    pub async fn trim_log_async(&self, through: u64) -> Result<(), NodeError> {
        self.step_async(false, move |_| Event::TrimLog { through }, |_| Ok(())).await
    }

    /// Splits community `from` (see `Event::Split`); answers once the split is durable.
    pub async fn split_async(&self, rule: SplitRule) -> Result<SplitReport, NodeError> {
        self.step_async(false, move |now_ms| Event::Split { rule, now_ms }, split_report).await
    }
}

fn applied(effects: Vec<Effect>) -> Result<Applied, NodeError> {
    let per_doc = effects.into_iter().filter_map(|effect| match effect {
        Effect::Applied { doc, result, waiting } => Some((doc, result, waiting)),
        _ => None,
    });
    Ok(per_doc.collect())
}

fn renewed(effects: Vec<Effect>) -> Result<String, NodeError> {
    let log_id = effects.into_iter().find_map(|effect| match effect {
        Effect::LogRenewed { log_id } => Some(log_id),
        _ => None,
    });
    log_id.ok_or_else(|| {
        let reason = "the engine gave no answer to a log renewal".into();
        NodeError::Core(linli_core::Error::Corrupt { what: "engine", key: "log".into(), reason })
    })
}

fn sync_step(effects: Vec<Effect>) -> Result<SyncStep, NodeError> {
    let step = effects.into_iter().find_map(|effect| match effect {
        Effect::Sync { reply, result, .. } => Some(SyncStep { reply, result }),
        _ => None,
    });
    Ok(step.unwrap_or(SyncStep { reply: None, result: Ok(0) }))
}

fn split_report(effects: Vec<Effect>) -> Result<SplitReport, NodeError> {
    let report = effects.into_iter().find_map(|effect| match effect {
        Effect::Split { result } => Some(result),
        _ => None,
    });
    match report {
        Some(result) => result.map_err(NodeError::from),
        None => {
            let reason = "the engine gave no answer to a split".into();
            Err(NodeError::Core(linli_core::Error::Corrupt { what: "engine", key: "split".into(), reason }))
        }
    }
}
