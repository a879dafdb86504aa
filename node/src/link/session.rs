//! One session of a link, the same at both ends once the Hellos are exchanged.
//!
//! Three tasks: the sender ships this node's log from the peer's checkpoint in
//! batches bounded in entries and bytes, at most `window_batches_max` unacknowledged
//! (a slow peer slows the sender; the outbound channel is bounded too); the receiver
//! applies the peer's batches through the engine, the new checkpoint in the same
//! synced write, then acks; the repairer, when the Hellos disagree, starts Automerge's
//! sync protocol on every shared document. The session ends when the stream does, or
//! at shutdown; nothing it holds is needed afterwards (checkpoints are on disk).

use super::status::{Links, now_ms};
use crate::config::LinkConfig;
use crate::engine::EngineHandle;
use crate::error::NodeError;
use linli_core::ids::{DocId, NodeId};
use linli_core::link::{self, Checkpoint, Frame, Hello, Routes, Tier};
use linli_core::store::{LogEntry, Storage};
use linli_proto::v1;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// What every session of a node shares.
pub struct Shared {
    pub engine: EngineHandle,
    pub tier: Tier,
    pub routes: Arc<RwLock<Routes>>,
    pub link: LinkConfig,
    pub links: Links,
    /// Becomes `true` at shutdown: sessions end and links close.
    pub shutdown: watch::Receiver<bool>,
}

/// What the peer of a session is to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerIs {
    Parent,
    Child,
}

/// After a quiet second, a peer whose entries were all skipped learns the new
/// checkpoint anyway, so a reconnect does not rescan them.
const SKIPPED_FLUSH: Duration = Duration::from_secs(1);

impl Shared {
    pub fn routes(&self) -> Routes {
        self.routes.read().map(|r| r.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// This node's Hello to `peer`, with the checkpoint it holds for the peer's log.
    pub fn hello(&self, peer: &NodeId) -> Result<Hello, NodeError> {
        let checkpoint =
            self.engine.store()?.meta(&Checkpoint::meta_name(peer))?.and_then(|bytes| Checkpoint::decode(&bytes));
        Ok(Hello {
            node: self.engine.node().clone(),
            tier: self.tier,
            log_id: self.engine.log_id().to_string(),
            log_end: *self.engine.log_end().borrow(),
            checkpoint,
            subtree: self.routes().subtree(),
        })
    }

    fn ships(&self, peer_is: PeerIs, peer: &NodeId, entry: &LogEntry) -> bool {
        let routes = self.routes();
        match peer_is {
            PeerIs::Parent => routes.ships_up(entry, peer),
            PeerIs::Child => routes.ships_down(entry, peer),
        }
    }
}

fn send_failed(peer: &NodeId) -> NodeError {
    NodeError::Link { peer: peer.to_string(), reason: "the stream to the peer closed".into() }
}

async fn send(out: &mpsc::Sender<v1::Frame>, peer: &NodeId, frame: &Frame) -> Result<(), NodeError> {
    out.send(v1::Frame::from(frame)).await.map_err(|_| send_failed(peer))
}

/// Runs a session until the stream ends, an error, or shutdown.
pub async fn run(
    shared: Arc<Shared>,
    peer_is: PeerIs,
    mine: Hello,
    theirs: Hello,
    inbound: tonic::Streaming<v1::Frame>,
    out: mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let peer = theirs.node.clone();
    let resume = link::resume(&mine, &theirs);
    tracing::info!(%peer, send_after = resume.send_after, repair = resume.repair, "link up");
    shared.links.update(peer.as_str(), |s| {
        s.connected = true;
        s.sessions += 1;
        s.last_contact_ms = now_ms();
        s.peer_log_end = theirs.log_end;
        // What this node holds of the peer's log, durable from an earlier session.
        s.applied_through =
            mine.checkpoint.as_ref().filter(|c| c.log_id == theirs.log_id).map(|c| c.through).unwrap_or(0);
        s.note_progress(now_ms());
        s.acked_through = resume.send_after;
        s.sent_through = resume.send_after;
        s.repairs += u64::from(resume.repair);
    });
    let (acked_tx, acked_rx) = watch::channel(resume.send_after);
    let span = tracing::info_span!("link", %peer);
    let mut sender = tokio::spawn(
        send_log(shared.clone(), peer_is, peer.clone(), resume.send_after, acked_rx, out.clone())
            .instrument(span.clone()),
    );
    let repairer = resume
        .repair
        .then(|| tokio::spawn(repair(shared.clone(), peer_is, peer.clone(), out.clone()).instrument(span.clone())));
    let mut shutdown = shared.shutdown.clone();
    let receiving = receive(&shared, peer_is, &peer, &theirs.log_id, inbound, &out, acked_tx).instrument(span);
    let result = tokio::select! {
        result = receiving => result,
        sent = &mut sender => match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(NodeError::Link { peer: peer.to_string(), reason: format!("sender task: {e}") }),
        },
        _ = shutdown.wait_for(|stop| *stop) => Ok(()),
    };
    sender.abort();
    if let Some(repairer) = repairer {
        repairer.abort();
    }
    shared.links.update(peer.as_str(), |s| s.connected = false);
    tracing::info!(%peer, outcome = ?result.as_ref().err().map(ToString::to_string), "link down");
    result
}

/// Ships this node's log to the peer from `after`, within the window.
async fn send_log(
    shared: Arc<Shared>,
    peer_is: PeerIs,
    peer: NodeId,
    after: u64,
    mut acked: watch::Receiver<u64>,
    out: mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let mut log_end = shared.engine.log_end();
    let mut cursor = after;
    let mut announced = after;
    let mut in_flight: VecDeque<u64> = VecDeque::new();
    loop {
        let acked_through = *acked.borrow_and_update();
        while in_flight.front().is_some_and(|&through| through <= acked_through) {
            in_flight.pop_front();
        }
        if in_flight.len() >= shared.link.window_batches_max {
            acked.changed().await.map_err(|_| send_failed(&peer))?;
            continue;
        }
        let end = *log_end.borrow_and_update();
        if cursor >= end {
            if cursor > announced {
                tokio::select! {
                    changed = log_end.changed() => changed.map_err(|_| send_failed(&peer))?,
                    _ = tokio::time::sleep(SKIPPED_FLUSH) => {
                        send(&out, &peer, &Frame::Batch { entries: Vec::new(), through: cursor }).await?;
                        in_flight.push_back(cursor);
                        announced = cursor;
                    }
                }
            } else {
                log_end.changed().await.map_err(|_| send_failed(&peer))?;
            }
            continue;
        }
        let store = shared.engine.store()?;
        let entries_max = shared.link.batch_entries_max;
        let entries = tokio::task::spawn_blocking(move || store.log_after(cursor, entries_max))
            .await
            .map_err(|e| NodeError::Link { peer: peer.to_string(), reason: format!("log reader: {e}") })??;
        let mut batch = Vec::new();
        let mut bytes = 0usize;
        for entry in entries {
            let size = entry.changes.iter().map(Vec::len).sum::<usize>() + 64;
            if !batch.is_empty() && bytes + size > shared.link.batch_bytes_max {
                break;
            }
            cursor = entry.seq;
            if shared.ships(peer_is, &peer, &entry) {
                bytes += size;
                batch.push(entry);
            }
        }
        if batch.is_empty() {
            continue;
        }
        let count = batch.len();
        send(&out, &peer, &Frame::Batch { entries: batch, through: cursor }).await?;
        tracing::debug!(entries = count, bytes, through = cursor, "batch sent");
        in_flight.push_back(cursor);
        announced = cursor;
        shared.links.update(peer.as_str(), |s| s.sent_through = cursor);
    }
}

/// Applies what the peer sends until its stream ends.
async fn receive(
    shared: &Shared,
    peer_is: PeerIs,
    peer: &NodeId,
    peer_log_id: &str,
    mut inbound: tonic::Streaming<v1::Frame>,
    out: &mpsc::Sender<v1::Frame>,
    acked: watch::Sender<u64>,
) -> Result<(), NodeError> {
    while let Some(frame) = inbound.message().await? {
        let frame = Frame::try_from(frame).map_err(|source| NodeError::Wire { peer: peer.to_string(), source })?;
        shared.links.update(peer.as_str(), |s| s.last_contact_ms = now_ms());
        match frame {
            Frame::Batch { entries, through } => {
                apply_batch(shared, peer_is, peer, peer_log_id, entries, through, out).await?;
                send(out, peer, &Frame::Ack { through }).await?;
            }
            Frame::Ack { through } => {
                acked.send_replace(through);
                shared.links.update(peer.as_str(), |s| s.acked_through = through);
            }
            Frame::Refusal { seq, doc, reason } => {
                tracing::warn!(seq, %doc, %reason, "the peer refused a log entry");
                shared.links.update(peer.as_str(), |s| s.refused_there += 1);
            }
            Frame::Sync { doc, message } => {
                shared.links.update(peer.as_str(), |s| s.sync_messages += 1);
                if let Some(reason) = refusal(shared, peer_is, peer, &doc) {
                    refuse(shared, peer, out, 0, &doc, reason).await?;
                    continue;
                }
                let step = shared.engine.sync_async(peer.clone(), doc.clone(), Some(message)).await?;
                if let Err(e) = &step.result {
                    refuse(shared, peer, out, 0, &doc, e.to_string()).await?;
                }
                if let Some(reply) = step.reply {
                    send(out, peer, &Frame::Sync { doc, message: reply }).await?;
                }
            }
            Frame::Hello(_) => {
                return Err(NodeError::Link { peer: peer.to_string(), reason: "a second Hello".into() });
            }
        }
    }
    Ok(())
}

fn refusal(shared: &Shared, peer_is: PeerIs, peer: &NodeId, doc: &DocId) -> Option<String> {
    match peer_is {
        PeerIs::Child => shared.routes().refuses_from_child(peer, doc),
        PeerIs::Parent => None,
    }
}

async fn refuse(
    shared: &Shared,
    peer: &NodeId,
    out: &mpsc::Sender<v1::Frame>,
    seq: u64,
    doc: &DocId,
    reason: String,
) -> Result<(), NodeError> {
    tracing::warn!(seq, %doc, %reason, "refused a log entry from the peer");
    shared.links.update(peer.as_str(), |s| s.refused_here += 1);
    send(out, peer, &Frame::Refusal { seq, doc: doc.to_string(), reason }).await
}

/// Applies one batch: entries grouped per document (one Automerge call each), out of
/// scope ones refused, and the checkpoint committed with them.
async fn apply_batch(
    shared: &Shared,
    peer_is: PeerIs,
    peer: &NodeId,
    peer_log_id: &str,
    entries: Vec<LogEntry>,
    through: u64,
    out: &mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
    let mut first_seq: Vec<u64> = Vec::new();
    for entry in entries {
        if let Some(reason) = refusal(shared, peer_is, peer, &entry.doc) {
            refuse(shared, peer, out, entry.seq, &entry.doc, reason).await?;
            continue;
        }
        match docs.iter().position(|(doc, _)| *doc == entry.doc) {
            Some(i) => docs[i].1.extend(entry.changes),
            None => {
                first_seq.push(entry.seq);
                docs.push((entry.doc, entry.changes));
            }
        }
    }
    let checkpoint = Checkpoint { log_id: peer_log_id.to_string(), through };
    let meta = vec![(Checkpoint::meta_name(peer), checkpoint.encode())];
    let applied = shared.engine.apply_async(peer.clone(), docs, meta).await?;
    for ((doc, result), seq) in applied.into_iter().zip(first_seq) {
        if let Err(e) = result {
            refuse(shared, peer, out, seq, &doc, e.to_string()).await?;
        }
    }
    shared.links.update(peer.as_str(), |s| {
        s.applied_through = through;
        s.peer_log_end = s.peer_log_end.max(through);
        s.note_progress(now_ms());
    });
    Ok(())
}

/// Starts the sync protocol on every document this link shares; the receiver loop
/// carries each exchange on until both sides hold the same changes.
async fn repair(shared: Arc<Shared>, peer_is: PeerIs, peer: NodeId, out: mpsc::Sender<v1::Frame>) {
    let store = match shared.engine.store() {
        Ok(store) => store,
        Err(e) => return tracing::error!(error = %e, "repair: no store"),
    };
    let docs = match tokio::task::spawn_blocking(move || store.doc_ids()).await {
        Ok(Ok(docs)) => docs,
        Ok(Err(e)) => return tracing::error!(error = %e, "repair: cannot list documents"),
        Err(e) => return tracing::error!(error = %e, "repair: document lister failed"),
    };
    let routes = shared.routes();
    let shared_docs: Vec<DocId> = docs
        .into_iter()
        .filter(|doc| match peer_is {
            PeerIs::Child => routes.shares_down(doc, &peer),
            // Up, everything: a parent that lost its disk also lost what it broadcast.
            PeerIs::Parent => true,
        })
        .collect();
    tracing::info!(docs = shared_docs.len(), "repair: syncing shared documents");
    for doc in shared_docs {
        match shared.engine.sync_async(peer.clone(), doc.clone(), None).await {
            Ok(step) => {
                if let Some(message) = step.reply
                    && send(&out, &peer, &Frame::Sync { doc, message }).await.is_err()
                {
                    return;
                }
            }
            Err(e) => return tracing::error!(error = %e, "repair stopped"),
        }
    }
}
