//! The tokio pump around core's [`Session`]: one task per link that reads the peer's
//! frames, reads this node's log off the engine thread, calls the engine, and writes
//! frames. Everything the link decides — batches, the window, skipped entries,
//! refusals, acks, repair — is the session's; this file only moves what the session
//! asks for between the stream, the store and the engine.
//!
//! The pump never waits on a send: frames go to a local outbox, drained into the
//! stream's bounded channel as it has room, so a peer that is slow to read cannot
//! stall this node's reading of its frames (two ends waiting on each other's full
//! channels would otherwise deadlock). It stops reading the peer's frames while the
//! engine applies one of the peer's batches, while 64 engine steps are queued, and
//! while more than [`OUTBOX_FRAMES_MAX`] frames wait for the peer: HTTP/2 flow control
//! then slows the peer, and memory stays bounded.
//! The session ends when the stream does, at shutdown, or when the peer breaks the
//! protocol; nothing it holds is needed afterwards (checkpoints are on disk).

use super::FRAME_BYTES_MAX;
use super::durability::Durability;
use super::gather::{Behind, decode, gather};
use super::status::{Links, now_ms};
use crate::engine::{Applied, EngineHandle, SyncStep};
use crate::error::NodeError;
use crate::logging::LogBudget;
use linli_core::ids::{DocId, NodeId};
use linli_core::link::limits::OUTBOX_FRAMES_MAX;
use linli_core::link::{Action, Checkpoint, Frame, Hello, LinkLimits, PeerIs, Routes, Session, Tier, named_seq};
use linli_core::replica::Traces;
use linli_core::store::{LogEntry, Storage};
use linli_proto::v1;
use linli_proto::wire::FrameWire;
use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// What every session of a node shares.
pub struct Shared {
    pub engine: EngineHandle,
    pub tier: Tier,
    /// Whether this node links up to a parent; the one that does not is the root.
    pub has_parent: bool,
    /// Signalled when this node's subtree grew (a district took a street's
    /// communities): the parent took the subtree from the last Hello, so the uplink
    /// starts a new session to announce it ([`super::uplink`]).
    pub subtree_changed: tokio::sync::Notify,
    /// Replaced whole when a child's routes change (rarely); every frame and log read
    /// takes the current one by reference count, not a copy of its maps.
    pub routes: Arc<RwLock<Arc<Routes>>>,
    pub link: LinkLimits,
    pub links: Links,
    /// Becomes `true` at shutdown: sessions end and links close.
    pub shutdown: watch::Receiver<bool>,
    /// Lines about refused log entries, which a peer could send without end.
    pub refusal_log: LogBudget,
    /// How far this node's log, and its children's, are durable above it.
    pub durability: Durability,
}

impl Shared {
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.read().map(|r| Arc::clone(&r)).unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// This node's Hello to `peer`, with the checkpoint it holds for the peer's log.
    pub fn hello(&self, peer: &NodeId) -> Result<Hello, NodeError> {
        let checkpoint =
            self.engine.store()?.meta(&Checkpoint::meta_name(peer))?.and_then(|bytes| Checkpoint::decode(&bytes));
        Ok(Hello {
            node: self.engine.node().clone(),
            tier: self.tier,
            log_id: self.engine.log_id(),
            log_end: *self.engine.log_end().borrow(),
            log_trimmed: self.engine.store()?.log_trimmed()?,
            checkpoint,
            subtree: self.routes().subtree(),
        })
    }
}

/// An engine step a session asked for.
enum EngineWork {
    Apply { docs: Vec<(DocId, Vec<Vec<u8>>)>, traces: Traces, checkpoint: Checkpoint, actors_refused: BTreeSet<String> },
    Sync { doc: DocId, message: Option<Vec<u8>>, actors_refused: BTreeSet<String> },
}

/// Engine steps queued for one link at most; past it the pump stops reading the
/// peer's frames until the engine catches up.
const ENGINE_STEPS_QUEUED_MAX: usize = 64;

/// What the engine answered for an [`Action::Apply`] or [`Action::Sync`].
enum EngineDone {
    /// The engine's answer, and the peer's log position the batch applied through.
    Applied(Result<Applied, NodeError>, u64),
    Synced(DocId, Result<SyncStep, NodeError>),
}

type EngineCall = Pin<Box<dyn Future<Output = EngineDone> + Send>>;

/// Awaits the task in `slot`, or never when there is none.
async fn finish<T>(slot: &mut Option<JoinHandle<T>>) -> Result<T, tokio::task::JoinError> {
    match slot.as_mut() {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

async fn engine_done(slot: &mut Option<EngineCall>) -> EngineDone {
    match slot.as_mut() {
        Some(call) => call.await,
        None => std::future::pending().await,
    }
}

fn closed(peer: &NodeId) -> NodeError {
    NodeError::Link { peer: peer.to_string(), reason: "the stream to the peer closed".into() }
}

fn task_failed(peer: &NodeId, what: &str, e: tokio::task::JoinError) -> NodeError {
    NodeError::Link { peer: peer.to_string(), reason: format!("{what}: {e}") }
}

/// The peer's first frame, which must be its Hello, within `timeout_ms`: a stream that
/// says nothing is closed rather than kept forever. With it, whether the peer reads
/// compressed frames (`linli_proto::wire::reads_zstd`).
pub async fn first_hello(
    inbound: &mut tonic::Streaming<v1::Frame>,
    peer: &str,
    timeout_ms: u64,
) -> Result<(Hello, bool), NodeError> {
    let link = |reason: String| NodeError::Link { peer: peer.to_string(), reason };
    let first = tokio::time::timeout(Duration::from_millis(timeout_ms), inbound.message())
        .await
        .map_err(|_| link(format!("no Hello within {timeout_ms} ms")))?;
    let first = first?;
    let reads_zstd = first.as_ref().is_some_and(linli_proto::wire::reads_zstd);
    match first.map(Frame::try_from) {
        Some(Ok(Frame::Hello(hello))) => Ok((hello, reads_zstd)),
        Some(Ok(other)) => Err(link(format!("expected Hello, got {other:?}"))),
        Some(Err(source)) => Err(NodeError::Wire { peer: peer.to_string(), source }),
        None => Err(link("closed before its Hello".into())),
    }
}

/// Runs a session until the stream ends, an error, or shutdown. `peer_reads_zstd`:
/// the peer's Hello said it reads compressed frames.
pub async fn run(
    shared: Arc<Shared>,
    peer_is: PeerIs,
    mine: Hello,
    (theirs, peer_reads_zstd): (Hello, bool),
    inbound: tonic::Streaming<v1::Frame>,
    out: mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let peer = theirs.node.clone();
    let named = match named_seq(&mine, &theirs) {
        Some(seq) if let Some(recent) = shared.engine.recent_log(seq - 1, 1) => recent.into_iter().next(),
        Some(seq) => {
            let store = shared.engine.store()?;
            let read = tokio::task::spawn_blocking(move || store.log_after(seq - 1, 1));
            read.await.map_err(|e| task_failed(&peer, "log reader", e))??.into_iter().next()
        }
        None => None,
    };
    let (mut session, actions) = Session::start(&mine, &theirs, named.as_ref(), peer_is, shared.link.clone(), now_ms());
    // Documents this node quarantined and has not repaired: synced where shared.
    session.on_quarantined(linli_core::replica::quarantined(&shared.engine.store()?)?, &shared.routes());
    if let Some(Action::RenewLog { stale }) = actions.first() {
        // This store was restored from a backup and wrote on: the session ends here,
        // and the next Hellos carry the new log, which every peer repairs against.
        let log_id = shared.engine.renew_log_async(stale.clone()).await?;
        let reason =
            format!("it acknowledged entries of log {stale} that this store holds otherwise; renewed as {log_id}");
        return Err(NodeError::Link { peer: peer.to_string(), reason });
    }
    let progress = session.progress();
    tracing::info!(%peer, send_after = progress.sent_through, repair = progress.repair, "link up");
    shared.links.update(peer.as_str(), |s| {
        s.connected = true;
        s.parent = peer_is == PeerIs::Parent;
        s.sessions += 1;
        s.last_contact_ms = now_ms();
        s.peer_log_end = progress.peer_log_end;
        s.applied_through = progress.applied_through;
        s.note_progress(now_ms());
        s.acked_through = progress.acked_through;
        s.sent_through = progress.sent_through;
        s.repairs += u64::from(progress.repair);
    });
    let span = tracing::info_span!("link", %peer);
    let mut pump = Pump {
        shared: shared.clone(),
        peer: peer.clone(),
        session,
        pending: actions.into(),
        outbox: VecDeque::new(),
        engine_work: VecDeque::new(),
        engine_call: None,
        log_read: None,
        doc_list: None,
        behind: Behind::default(),
        wire: FrameWire::new(FRAME_BYTES_MAX, peer_reads_zstd)
            .map_err(|source| NodeError::Wire { peer: peer.to_string(), source })?,
    };
    let result = pump.run(inbound, out).instrument(span).await;
    pump.abort();
    shared.links.update(peer.as_str(), |s| s.connected = false);
    tracing::info!(%peer, outcome = ?result.as_ref().err().map(ToString::to_string), "link down");
    result
}

type LogRead = JoinHandle<Result<Vec<LogEntry>, linli_core::Error>>;
type DocList = JoinHandle<Result<Vec<DocId>, linli_core::Error>>;

struct Pump {
    shared: Arc<Shared>,
    peer: NodeId,
    session: Session,
    /// Actions the session returned and the pump has not routed yet.
    pending: VecDeque<Action>,
    /// Frames for the peer, oldest first.
    outbox: VecDeque<v1::Frame>,
    /// Engine steps (applies, sync steps) in the order the session asked; one runs at
    /// a time, so answers come back in order.
    engine_work: VecDeque<EngineWork>,
    engine_call: Option<EngineCall>,
    log_read: Option<LogRead>,
    doc_list: Option<DocList>,
    /// What stopped the last gathering of frames (see [`gather`]).
    behind: Behind,
    /// The session's frames on the wire: one zstd context each way for the whole
    /// session (`linli_proto::wire`).
    wire: FrameWire,
}

impl Pump {
    async fn run(
        &mut self,
        mut inbound: tonic::Streaming<v1::Frame>,
        out: mpsc::Sender<v1::Frame>,
    ) -> Result<(), NodeError> {
        let mut log_end = self.shared.engine.log_end();
        let mut shutdown = self.shared.shutdown.clone();
        let mut levels = self.shared.durability.levels();
        let to_child = self.session.peer_is() == PeerIs::Child;
        loop {
            self.route()?;
            let end = *log_end.borrow_and_update();
            // What this end has queued: frames for the peer and engine steps (a repair's
            // next document waits while it is large).
            let backlog = self.outbox.len() + self.engine_work.len() + usize::from(self.engine_call.is_some());
            if let Some(action) = self.session.poll(end, backlog, now_ms()) {
                self.pending.push_back(action);
                continue;
            }
            self.flush(&out)?;
            self.report();
            // A batch being applied holds the peer's next frame back (the session's
            // contract); sync steps queue behind each other up to a bound.
            let reading = !self.session.applying()
                && self.engine_work.len() < ENGINE_STEPS_QUEUED_MAX
                && self.outbox.len() < OUTBOX_FRAMES_MAX;
            if reading && let Some(frame) = self.behind.held.take() {
                let frame = gather(frame, &mut inbound, self.peer.as_str(), &mut self.behind, &mut self.wire)?;
                self.on_frame(frame)?;
                continue;
            }
            // The stream ended behind the frames gathered: once they are taken, the
            // session is over, as when `message()` says so below.
            if self.behind.ended && self.behind.held.is_none() {
                return Ok(());
            }
            let wait = self.session.deadline_ms().map(|at| Duration::from_millis(at.saturating_sub(now_ms())));
            tokio::select! {
                frame = inbound.message(), if reading => match frame? {
                    Some(frame) => {
                        let frame = decode(&mut self.wire, frame, self.peer.as_str())?;
                        let frame = gather(frame, &mut inbound, self.peer.as_str(), &mut self.behind, &mut self.wire)?;
                        self.on_frame(frame)?
                    }
                    None => return Ok(()),
                },
                done = engine_done(&mut self.engine_call) => {
                    self.engine_call = None;
                    self.on_engine(done)?;
                }
                read = finish(&mut self.log_read) => {
                    self.log_read = None;
                    let entries = read.map_err(|e| task_failed(&self.peer, "log reader", e))??;
                    let routes = self.shared.routes();
                    self.pending.extend(self.session.on_log(entries, &routes, now_ms()));
                }
                docs = finish(&mut self.doc_list) => {
                    self.doc_list = None;
                    let docs = docs.map_err(|e| task_failed(&self.peer, "document lister", e))??;
                    self.session.on_docs(docs, &self.shared.routes());
                }
                permit = out.reserve(), if !self.outbox.is_empty() => {
                    let permit = permit.map_err(|_| closed(&self.peer))?;
                    if let Some(frame) = self.outbox.pop_front() {
                        permit.send(frame);
                    }
                }
                changed = log_end.changed() => changed.map_err(|_| closed(&self.peer))?,
                // This node's own watermarks moved: so may the child's.
                Ok(()) = levels.changed(), if to_child => {
                    let above = self.shared.durability.above(self.peer.as_str());
                    self.pending.extend(self.session.on_durable_above(&above));
                }
                _ = tokio::time::sleep(wait.unwrap_or(Duration::MAX)), if wait.is_some() => {}
                _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
            }
        }
    }

    /// Routes the session's actions: frames to the outbox, log reads and document
    /// lists to blocking tasks, engine steps to the engine (one at a time).
    fn route(&mut self) -> Result<(), NodeError> {
        while let Some(action) = self.pending.pop_front() {
            match action {
                Action::Send(frame) => {
                    if let Frame::Refusal { seq, doc, reason } = &frame {
                        if let Some(held_back) = self.shared.refusal_log.allow() {
                            tracing::warn!(peer = %self.peer, seq, %doc, %reason, held_back, "refused a log entry from the peer");
                        }
                        self.shared.links.update(self.peer.as_str(), |s| s.refused_here += 1);
                    }
                    if let Frame::Batch { entries, through, .. } = &frame {
                        tracing::debug!(entries = entries.len(), through, "batch sent");
                        self.trace_shipped(entries, *through);
                    }
                    self.outbox.push_back(self.wire.encode(&frame));
                }
                Action::ReadLog { after, entries_max } => {
                    // The newest entries are kept decoded for every link: no read, no
                    // hand-off to a blocking thread.
                    if let Some(entries) = self.shared.engine.recent_log(after, entries_max) {
                        let routes = self.shared.routes();
                        self.pending.extend(self.session.on_log(entries, &routes, now_ms()));
                        continue;
                    }
                    let store = self.shared.engine.store()?;
                    self.log_read = Some(tokio::task::spawn_blocking(move || store.log_after(after, entries_max)));
                }
                Action::ListDocs => {
                    let store = self.shared.engine.store()?;
                    self.doc_list = Some(tokio::task::spawn_blocking(move || store.doc_ids()));
                }
                Action::PeerRefused { seq, doc, reason } => {
                    if let Some(held_back) = self.shared.refusal_log.allow() {
                        tracing::warn!(peer = %self.peer, seq, %doc, %reason, held_back, "the peer refused a log entry");
                    }
                    self.shared.links.update(self.peer.as_str(), |s| s.refused_there += 1);
                }
                Action::Apply { docs, traces, checkpoint, actors_refused } => {
                    self.engine_work.push_back(EngineWork::Apply { docs, traces, checkpoint, actors_refused })
                }
                Action::Sync { doc, message, actors_refused } => {
                    self.engine_work.push_back(EngineWork::Sync { doc, message, actors_refused })
                }
                Action::RenewLog { stale } => {
                    // Only a session's start asks for it, and `run` ends the session there.
                    let reason = format!("log {stale} must be renewed");
                    return Err(NodeError::Link { peer: self.peer.to_string(), reason });
                }
            }
        }
        if self.engine_call.is_none()
            && let Some(work) = self.engine_work.pop_front()
        {
            self.engine_call = Some(self.call(work));
        }
        Ok(())
    }

    fn call(&self, work: EngineWork) -> EngineCall {
        let (engine, peer) = (self.shared.engine.clone(), self.peer.clone());
        match work {
            EngineWork::Apply { docs, traces, checkpoint, actors_refused } => {
                // Untraced, `span` is `Span::none()`: instrumenting with it changes nothing.
                let span = self.apply_span(&docs, &traces, checkpoint.through);
                let traced = span.clone();
                Box::pin(
                    async move {
                        let meta = vec![(Checkpoint::meta_name(&peer), checkpoint.encode())];
                        let through = checkpoint.through;
                        let applied = engine.apply_async(peer, actors_refused, docs, traces, meta, traced);
                        EngineDone::Applied(applied.await, through)
                    }
                    .instrument(span),
                )
            }
            EngineWork::Sync { doc, message, actors_refused } => Box::pin(async move {
                let step = engine.sync_async(peer, actors_refused, doc.clone(), message).await;
                EngineDone::Synced(doc, step)
            }),
        }
    }

    fn on_frame(&mut self, frame: Frame) -> Result<(), NodeError> {
        let peer = self.peer.clone();
        let sync = matches!(frame, Frame::Sync { .. });
        if let Frame::Batch { entries, .. } = &frame {
            self.shared.engine.metrics().link_batch_entries.observe(entries.len() as f64);
        }
        self.shared.links.update(peer.as_str(), |s| {
            s.last_contact_ms = now_ms();
            s.sync_messages += u64::from(sync);
        });
        let routes = self.shared.routes();
        self.pending.extend(self.session.on_frame(frame, &routes)?);
        Ok(())
    }

    fn on_engine(&mut self, done: EngineDone) -> Result<(), NodeError> {
        match done {
            EngineDone::Applied(applied, through) => {
                let applied = applied?;
                if self.session.peer_is() == PeerIs::Child {
                    // The batch is in this node's log now, at or below its end: the
                    // child's watermarks above this node follow this node's own. The
                    // session puts them on the batch's Ack.
                    let end = *self.shared.engine.log_end().borrow();
                    let log_id = self.session.peer_log_id();
                    let above = self.shared.durability.applied(self.peer.as_str(), log_id, through, end);
                    self.pending.extend(self.session.on_durable_above(&above));
                }
                let (mut failed, mut waiting) = (Vec::new(), Vec::new());
                for (doc, result, waits) in applied {
                    if waits {
                        waiting.push(doc.clone());
                    }
                    if let Err(e) = result {
                        self.shared.engine.metrics().refused(e.kind());
                        failed.push((doc, e));
                    }
                }
                self.pending.extend(self.session.on_applied(failed, waiting)?);
            }
            EngineDone::Synced(doc, step) => {
                let step = step?;
                if let Err(e) = &step.result {
                    self.shared.engine.metrics().refused(e.kind());
                }
                let refused = step.result.err().map(|e| e.to_string());
                self.pending.extend(self.session.on_synced(doc, step.reply, refused));
            }
        }
        Ok(())
    }

    /// The span of a batch of the peer's applied here, until it is durable: the
    /// child of the first traced write it holds, linked to the others (see
    /// `crate::telemetry`). `Span::none()` when none is traced or traces are off.
    fn apply_span(&self, docs: &[(DocId, Vec<Vec<u8>>)], traces: &Traces, through: u64) -> tracing::Span {
        if !crate::telemetry::enabled() || traces.is_empty() {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            "linli.link.apply",
            linli.node = %self.shared.engine.node(),
            linli.tier = %self.shared.tier,
            peer = %self.peer,
            docs = docs.len(),
            through,
        );
        crate::telemetry::join(span, traces.values().flatten().copied())
    }

    /// A span for a batch shipped to the peer that holds traced writes (see
    /// [`Self::apply_span`]); it ends as the batch enters the outbox.
    fn trace_shipped(&self, entries: &[LogEntry], through: u64) {
        if !crate::telemetry::enabled() || entries.iter().all(|entry| entry.traces.is_empty()) {
            return;
        }
        let span = tracing::info_span!(
            "linli.link.ship",
            linli.node = %self.shared.engine.node(),
            linli.tier = %self.shared.tier,
            peer = %self.peer,
            entries = entries.len(),
            through,
        );
        drop(crate::telemetry::join(span, entries.iter().flat_map(|entry| entry.traces.iter().copied())));
    }

    /// Hands the outbox to the stream as far as its channel has room, without waiting.
    fn flush(&mut self, out: &mpsc::Sender<v1::Frame>) -> Result<(), NodeError> {
        while !self.outbox.is_empty() {
            match out.try_reserve() {
                Ok(permit) => {
                    if let Some(frame) = self.outbox.pop_front() {
                        permit.send(frame);
                    }
                }
                Err(mpsc::error::TrySendError::Full(())) => break,
                Err(mpsc::error::TrySendError::Closed(())) => return Err(closed(&self.peer)),
            }
        }
        Ok(())
    }

    /// The session's positions into the link's status.
    fn report(&self) {
        let progress = self.session.progress();
        if self.session.peer_is() == PeerIs::Parent {
            self.shared.durability.set_own(progress.acked_through, &progress.durable_above);
        }
        self.shared.links.update(self.peer.as_str(), |s| {
            s.sent_through = progress.sent_through;
            s.note_acked(progress.acked_through, &progress.durable_above, now_ms());
            let moved = s.applied_through != progress.applied_through || s.peer_log_end < progress.peer_log_end;
            s.applied_through = progress.applied_through;
            s.peer_log_end = s.peer_log_end.max(progress.peer_log_end);
            if moved {
                s.note_progress(now_ms());
            }
        });
    }

    /// Ends the session's background reads.
    fn abort(&mut self) {
        if let Some(task) = self.log_read.take() {
            task.abort();
        }
        if let Some(task) = self.doc_list.take() {
            task.abort();
        }
    }
}
