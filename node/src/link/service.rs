//! The parent's end: the `Replication` service that children dial.

use super::NODE_HEADER;
use super::pump::{self, Shared};
use super::uplink::OUTBOUND_FRAMES_MAX;
use crate::error::NodeError;
use linli_core::ids::NodeId;
use linli_core::link::{Frame, Hello, PeerIs};
use linli_proto::v1;
use linli_proto::v1::replication_server::Replication;
use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct ReplicationService {
    shared: Arc<Shared>,
    /// The children this node accepts, from its config.
    children: BTreeSet<String>,
    /// The running session per child: a reconnect replaces a half-open one.
    sessions: Arc<Mutex<BTreeMap<String, AbortHandle>>>,
}

impl ReplicationService {
    pub fn new(shared: Arc<Shared>, children: BTreeSet<String>) -> Self {
        Self { shared, children, sessions: Arc::default() }
    }
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
        let mine = self.shared.hello(&child).map_err(|e| Status::internal(e.to_string()))?;
        let (out, frames) = mpsc::channel::<v1::Frame>(OUTBOUND_FRAMES_MAX);
        out.send(v1::Frame::from(&Frame::Hello(mine.clone())))
            .await
            .map_err(|_| Status::internal("link closed during Hello"))?;
        let inbound = request.into_inner();
        let shared = self.shared.clone();
        let sessions = self.sessions.clone();
        let name = child.to_string();
        let task = tokio::spawn(async move {
            if let Err(e) = serve(shared, child.clone(), mine, inbound, out).await {
                tracing::warn!(%child, error = %e, "link from child ended");
            }
        });
        if let Some(old) = lock(&sessions).insert(name, task.abort_handle()) {
            old.abort();
        }
        Ok(Response::new(Box::pin(ReceiverStream::new(frames).map(Ok))))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(
    shared: Arc<Shared>,
    child: NodeId,
    mine: Hello,
    mut inbound: Streaming<v1::Frame>,
    out: mpsc::Sender<v1::Frame>,
) -> Result<(), NodeError> {
    let peer = child.to_string();
    let theirs = match inbound.message().await?.map(Frame::try_from) {
        Some(Ok(Frame::Hello(hello))) if hello.node == child => hello,
        Some(Ok(Frame::Hello(hello))) => {
            return Err(NodeError::Link { peer, reason: format!("its Hello names `{}`", hello.node) });
        }
        Some(Ok(other)) => return Err(NodeError::Link { peer, reason: format!("expected Hello, got {other:?}") }),
        Some(Err(source)) => return Err(NodeError::Wire { peer, source }),
        None => return Err(NodeError::Link { peer, reason: "closed before its Hello".into() }),
    };
    let mut routes = shared.routes();
    if let Some(entry) = routes.accept(&child, &theirs) {
        // Persist it first: routes must survive a restart while this child is away.
        shared.engine.put_meta_async(vec![entry]).await?;
        if let Ok(mut shared_routes) = shared.routes.write() {
            shared_routes.accept(&child, &theirs);
        }
    }
    pump::run(shared, PeerIs::Child, mine, theirs, inbound, out).await
}
