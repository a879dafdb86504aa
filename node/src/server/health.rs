//! gRPC health that tells the truth, and reflection, on every server.
//!
//! What each name answers:
//! - `linli.v1.Registry`, `linli.v1.Query`, `linli.v1.Replication`: SERVING from the
//!   moment the store is open until the engine stops; NOT_SERVING before (RocksDB
//!   replaying a long WAL) and after (a commit failed, the disk is full, a thread of
//!   the engine panicked). A street's or district's readiness follows these: children
//!   may link while the node's own parent is away.
//! - `""` (the whole node): as above, and, where a parent is configured, only while the
//!   link to it is up. A community's readiness, and what an operator's dashboard shows.
//!
//! The server answers health and reflection while the store opens ([`serve_early`]),
//! so a probe reads NOT_SERVING rather than a refused connection. When the engine
//! stops, [`Health::engine_stopped`] turns every name NOT_SERVING; the server then shuts
//! down and `run` returns the reason, so the process exits non-zero and its
//! supervisor (systemd, Kubernetes) restarts it: a restart recovers from disk.

use crate::error::NodeError;
use crate::link::Links;
use linli_proto::v1::query_server::QueryServer;
use linli_proto::v1::registry_server::RegistryServer;
use linli_proto::v1::replication_server::ReplicationServer;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// The names of linli's own services, as health and reflection list them.
pub fn service_names() -> [&'static str; 3] {
    [
        <RegistryServer<super::RegistryService> as NamedService>::NAME,
        <QueryServer<super::QueryService> as NamedService>::NAME,
        <ReplicationServer<crate::link::service::ReplicationService> as NamedService>::NAME,
    ]
}

/// How often the whole node's status re-reads the parent link.
const PARENT_POLL: Duration = Duration::from_millis(250);

/// The health reporter and what the whole node's status depends on.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
}

impl Health {
    /// A reporter with every name NOT_SERVING, and its gRPC service.
    pub async fn starting()
    -> (Self, tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Self { reporter };
        health.set_all(ServingStatus::NotServing).await;
        (health, service)
    }

    async fn set_all(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for name in service_names() {
            self.reporter.set_service_status(name, status).await;
        }
    }

    /// The store is open: the services serve; the whole node serves too unless it
    /// waits for its parent ([`Self::follow_parent`]).
    pub async fn opened(&self, has_parent: bool) {
        for name in service_names() {
            self.reporter.set_service_status(name, ServingStatus::Serving).await;
        }
        if !has_parent {
            self.reporter.set_service_status("", ServingStatus::Serving).await;
        }
    }

    /// Keeps the whole node's status on the parent link's until `stop` turns true.
    pub async fn follow_parent(self, links: Links, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut serving = false;
        loop {
            let up = links.all().values().any(|status| status.parent && status.connected);
            if up != serving && !*stop.borrow() {
                serving = up;
                let status = if up { ServingStatus::Serving } else { ServingStatus::NotServing };
                self.reporter.set_service_status("", status).await;
            }
            tokio::select! {
                _ = tokio::time::sleep(PARENT_POLL) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// The engine stopped: nothing serves any more.
    pub async fn engine_stopped(&self) {
        self.set_all(ServingStatus::NotServing).await;
    }
}

/// The reflection services (v1 and v1alpha) over linli's services and health.
#[allow(clippy::type_complexity)]
pub fn reflection() -> Result<
    (
        tonic_reflection::server::v1::ServerReflectionServer<impl tonic_reflection::server::v1::ServerReflection>,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
    ),
    NodeError,
> {
    let builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(linli_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// Connections accepted from a listener that two servers share in turn: the early one
/// (health while the store opens) and then the full one. A listener keeps the waker
/// of one task only, so the early server's stream ends for good at the hand-over
/// (`handed_over`) and never polls the listener again: otherwise it could keep the
/// wake-ups and the full server would never accept.
pub struct Accepting {
    pub listener: Arc<TcpListener>,
    pub handed_over: Option<Arc<AtomicBool>>,
}

impl tokio_stream::Stream for Accepting {
    type Item = std::io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.handed_over.as_ref().is_some_and(|handed_over| handed_over.load(Ordering::Acquire)) {
            return Poll::Ready(None);
        }
        self.listener.poll_accept(cx).map(|accepted| {
            Some(accepted.and_then(|(stream, _)| {
                stream.set_nodelay(true)?;
                Ok(stream)
            }))
        })
    }
}
