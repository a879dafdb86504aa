//! What travels on the engine's queue, and the answers held until a batch is durable.
//!
//! There are four kinds of request: local writes (gathered into one step), engine
//! steps of any other event, reads, and shutdown. A step carries the event to run and
//! a typed reply that reads the caller's answer from the step's effects, so a new
//! engine event needs only a handle method (see `handle`), not a new request.

use crate::error::NodeError;
use linli_core::ids::DocId;
use linli_core::replica::{Effect, Event, Replica, Written};
use linli_core::store::StoreBatch;
use linli_core::write::Write;
use linli_store_rocks::RocksStore;
use tokio::sync::oneshot;

pub(super) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// Per document, how many of a peer's changes were new here, or why they were refused.
/// Per document of a batch: how many changes were new, and whether it holds changes
/// that wait for their dependencies (see `linli_core::replica::Effect::Applied`).
pub type Applied = Vec<(DocId, linli_core::Result<usize>, bool)>;

/// One step of the sync protocol: the message to send next, and what the received
/// one brought.
#[derive(Debug)]
pub struct SyncStep {
    pub reply: Option<Vec<u8>>,
    pub result: linli_core::Result<usize>,
}

pub(super) enum Request {
    Write(Write, Reply<Written>),
    Step(StepRequest),
    /// Runs on the engine thread once every batch in flight is durable; gets the
    /// replica and its store, or why the engine stopped.
    Read(ReadRequest),
    /// Everything queued before it is answered; then the threads end.
    Shutdown,
}

pub(super) type ReadRequest = Box<dyn FnOnce(Result<(&mut Replica, &RocksStore), NodeError>) + Send>;

/// An engine event that is not a local write, answered once its batch is durable.
pub(super) struct StepRequest {
    /// Makes the event when the writer runs it; `now_ms` is the wall clock then.
    pub event: Box<dyn FnOnce(u64) -> Event + Send>,
    /// Consecutive steps that group run one after another and share one batch (and
    /// one sync): peers' changes do, from one link or several.
    pub groups: bool,
    pub reply: Box<dyn StepReply>,
    /// The caller's hop span when the step serves a traced change (a link's apply):
    /// the step's span is its child. `Span::none()` otherwise, and then no span is made.
    pub span: tracing::Span,
}

/// Where a step's answer goes.
pub(super) trait StepReply: Send {
    /// The answer read from the step's effects (every one but `Persist`).
    fn answer(self: Box<Self>, effects: Vec<Effect>) -> Answer;
    /// The step did not run: the engine has stopped.
    fn fail(self: Box<Self>, reason: Option<String>);
}

/// A reply and how to read its answer from a step's effects.
pub(super) struct TypedReply<T> {
    pub reply: Reply<T>,
    pub read: fn(Vec<Effect>) -> Result<T, NodeError>,
}

impl<T: Send + 'static> StepReply for TypedReply<T> {
    fn answer(self: Box<Self>, effects: Vec<Effect>) -> Answer {
        Answer::new(self.reply, (self.read)(effects))
    }

    fn fail(self: Box<Self>, reason: Option<String>) {
        let _ = self.reply.send(Err(NodeError::Stopped { reason }));
    }
}

/// An answer held until its batch is durable: then sent as it is, or, if the batch
/// failed, replaced by [`NodeError::Stopped`] with the reason.
pub(super) struct Answer(Box<dyn FnOnce(Result<(), NodeError>) + Send>);

impl Answer {
    pub fn new<T: Send + 'static>(reply: Reply<T>, answer: Result<T, NodeError>) -> Self {
        Answer(Box::new(move |durable| {
            let _ = reply.send(durable.and(answer));
        }))
    }

    pub fn release(self) {
        (self.0)(Ok(()))
    }

    pub fn fail(self, reason: Option<String>) {
        (self.0)(Err(NodeError::Stopped { reason }))
    }
}

/// A batch for the committer, with the answers to release once it is durable.
pub(super) struct Commit {
    pub batch: StoreBatch,
    pub answers: Vec<Answer>,
    /// For each traced step in the batch, its `linli.log.append` span: made as the
    /// batch leaves the writer, ended once it is durable (the wait for the batches
    /// ahead of it and its sync). Empty when nothing in the batch was traced.
    pub spans: Vec<tracing::Span>,
}
