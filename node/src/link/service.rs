//! The parent's end: the `Replication` service that children dial.

use super::NODE_HEADER;
use super::pump::{self, Shared};
use super::uplink::OUTBOUND_FRAMES_MAX;
use crate::error::NodeError;
use linli_core::error::Error as CoreError;
use linli_core::ids::NodeId;
use linli_core::link::{Hello, PeerIs, tree};
use linli_proto::v1;
use linli_proto::v1::replication_server::Replication;
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct ReplicationService {
    shared: Arc<Shared>,
    /// The children this node accepts, from its config.
    children: BTreeSet<String>,
    /// The running session per child, entered once its Hello is valid: a reconnect
    /// replaces a half-open one. One entry per configured child at most.
    sessions: Arc<Mutex<BTreeMap<String, AbortHandle>>>,
    /// Whether a child must show a certificate naming it (mutual TLS); without,
    /// the `linli-node` header is taken at its word (plaintext, `insecure = true`).
    authenticate: bool,
    /// The communities each listed street may announce (a district's `[subtrees]`).
    subtrees: Arc<BTreeMap<String, BTreeSet<String>>>,
}

impl ReplicationService {
    pub fn new(
        shared: Arc<Shared>,
        children: BTreeSet<String>,
        authenticate: bool,
        subtrees: BTreeMap<String, BTreeSet<String>>,
    ) -> Self {
        Self { shared, children, sessions: Arc::default(), authenticate, subtrees: Arc::new(subtrees) }
    }
}

/// The node id the caller's certificate names, if it showed one.
fn certified<T>(request: &Request<T>) -> Result<Option<String>, Status> {
    let Some(certs) = request.peer_certs() else { return Ok(None) };
    let Some(first) = certs.first() else { return Ok(None) };
    linli_tls::peer_identity(first).map(Some).map_err(|e| Status::unauthenticated(e.to_string()))
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<v1::Frame, Status>> + Send>>;

#[tonic::async_trait]
impl Replication for ReplicationService {
    type LinkStream = FrameStream;

    async fn link(&self, request: Request<Streaming<v1::Frame>>) -> Result<Response<FrameStream>, Status> {
        let child = request
            .metadata()
            .get(NODE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Status::invalid_argument(format!("missing `{NODE_HEADER}` metadata")))?;
        let child = NodeId::new(child).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let me = self.shared.engine.node().clone();
        if !self.children.contains(child.as_str()) {
            return Err(Status::permission_denied(format!("`{child}` is not a configured child of `{me}`")));
        }
        match (certified(&request)?, self.authenticate) {
            (Some(named), _) if named != child.as_str() => {
                return Err(Status::permission_denied(format!(
                    "the stream says it is `{child}`, but its certificate names `{named}`: refused by `{me}`"
                )));
            }
            (None, true) => {
                return Err(Status::unauthenticated(format!(
                    "`{me}` links only with a child that shows its certificate"
                )));
            }
            _ => {}
        }
        let mine = self.shared.hello(&child).map_err(|e| Status::internal(e.to_string()))?;
        let (out, frames) = mpsc::channel::<v1::Frame>(OUTBOUND_FRAMES_MAX);
        // A Hello refused ends the stream with this status, after the frames sent.
        let (refuse, refused) = oneshot::channel::<Status>();
        out.send(linli_proto::wire::hello_frame(&mine))
            .await
            .map_err(|_| Status::internal("link closed during Hello"))?;
        let inbound = request.into_inner();
        let shared = self.shared.clone();
        let sessions = self.sessions.clone();
        let subtrees = self.subtrees.clone();
        // The task learns its own handle to put it in `sessions` once the child's Hello
        // is valid.
        let (own_tx, own_rx) = oneshot::channel::<AbortHandle>();
        let task = tokio::spawn(async move {
            let outcome = async {
                let (theirs, reads_zstd, inbound) = read_hello(&shared, &child, inbound).await?;
                // Only a stream whose Hello names the child and holds replaces its live
                // session (a half-open one, or one the child gave up on): a stray,
                // silent or lying stream naming it cuts nothing. Over TLS the
                // certificate has shown the stream is the child's; in plaintext it is
                // taken at its word.
                let subtree = accepted(&shared, &child, &theirs, subtrees.get(child.as_str()))?;
                if let Ok(own) = own_rx.await
                    && let Some(old) = lock(&sessions).insert(child.to_string(), own)
                {
                    old.abort();
                }
                serve(shared, child.clone(), mine, (theirs, reads_zstd), subtree, inbound, out).await
            };
            if let Err(e) = outcome.await {
                tracing::warn!(%child, error = %e, "link from child ended");
                let _ = refuse.send(status_of(e));
            }
        });
        let _ = own_tx.send(task.abort_handle());
        let end = tokio_stream::once(refused).then(|refused| refused).filter_map(|status| status.ok().map(Err));
        Ok(Response::new(Box::pin(ReceiverStream::new(frames).map(Ok).chain(end))))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads the child's Hello, within the link's `hello_timeout_ms`; it must name the
/// child the stream's metadata named.
async fn read_hello(
    shared: &Shared,
    child: &NodeId,
    mut inbound: Streaming<v1::Frame>,
) -> Result<(Hello, bool, Streaming<v1::Frame>), NodeError> {
    let (theirs, reads_zstd) = pump::first_hello(&mut inbound, child.as_str(), shared.link.hello_timeout_ms).await?;
    if theirs.node != *child {
        return Err(NodeError::Link { peer: child.to_string(), reason: format!("its Hello names `{}`", theirs.node) });
    }
    Ok((theirs, reads_zstd, inbound))
}

/// The subtree the child's Hello announces, checked against what this node knows of
/// it ([`tree::accepted_subtree`]); refused when they disagree.
/// `allowed`: the communities this node's config lists under the child, if it does.
fn accepted(
    shared: &Shared,
    child: &NodeId,
    theirs: &Hello,
    allowed: Option<&BTreeSet<String>>,
) -> Result<BTreeSet<String>, NodeError> {
    let me = shared.engine.node().to_string();
    let held = shared.routes.read().unwrap_or_else(|p| p.into_inner()).children.clone();
    tree::accepted_subtree((&me, shared.tier), child, theirs, allowed, &held)
        .map_err(|reason| NodeError::HelloRefused { peer: child.to_string(), reason })
}

/// The status a child's stream ends with when this node ends it: what the child (or
/// whoever holds its certificate) is told, and what it may retry.
fn status_of(e: NodeError) -> Status {
    match e {
        NodeError::HelloRefused { reason, .. } => Status::permission_denied(reason),
        NodeError::Core(CoreError::LinkOverBound { reason, .. }) => Status::resource_exhausted(reason),
        NodeError::Core(CoreError::Link { reason, .. }) | NodeError::Link { reason, .. } => Status::aborted(reason),
        NodeError::Wire { source, .. } => Status::invalid_argument(source.to_string()),
        other => Status::unavailable(other.to_string()),
    }
}

async fn serve(
    shared: Arc<Shared>,
    child: NodeId,
    mine: Hello,
    theirs: (Hello, bool),
    subtree: BTreeSet<String>,
    inbound: Streaming<v1::Frame>,
    out: mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let mut routes = linli_core::link::Routes::clone(&shared.routes());
    let accepted = routes.accept(&child, subtree.clone());
    if !accepted.meta.is_empty() {
        // Persist them first: routes must survive a restart while this child is away.
        shared.engine.put_meta_async(accepted.meta).await?;
        if let Ok(mut shared_routes) = shared.routes.write() {
            Arc::make_mut(&mut shared_routes).accept(&child, subtree);
        }
        if accepted.subtree_changed {
            shared.subtree_changed.notify_one();
        }
    }
    pump::run(shared, PeerIs::Child, mine, theirs, inbound, out).await
}
