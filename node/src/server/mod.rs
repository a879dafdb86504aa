//! A linli server, the same at every tier: the engine over RocksDB, the `Registry`,
//! `Replication` and `Query` services, gRPC health, and the link to the parent.
//!
//! [`run`] takes a bound listener and a shutdown future, so tests start servers on
//! port 0 in-process. Shutdown is graceful: links end their sessions (batches already
//! applied are durable with their checkpoints), the server stops accepting and
//! finishes in-flight calls, then the engine answers what it has queued, syncs and
//! stops.

pub mod authority;
pub mod callers;
mod durable;
pub mod health;
pub mod metrics;
pub mod query;
mod registry;

pub use query::QueryService;
pub use registry::{RegistryService, status};

use crate::config::{ServerConfig, Transport};
use crate::console::Console;
use crate::engine::{Engine, EngineConfig, EngineHandle};
use crate::error::NodeError;
use crate::link::service::ReplicationService;
use crate::link::{FRAME_BYTES_MAX, Links, Shared, trimmer, uplink};
use crate::logging::LogBudget;
use authority::Authority;
use health::Health;
use linli_core::ids::NodeId;
use linli_core::link::{Routes, tree};
use linli_core::replica::ReplicaConfig;
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_proto::v1::query_server::QueryServer;
use linli_proto::v1::registry_server::RegistryServer;
use linli_proto::v1::replication_server::ReplicationServer;
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, RwLock};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;

/// How long health reads NOT_SERVING, after the engine stopped, before the server
/// shuts down.
const STOPPED_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a shutdown waits for open calls before it cuts them.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a running server exposes to the code that started it (tests, the simulator).
#[derive(Clone)]
pub struct Running {
    pub engine: EngineHandle,
    pub links: Links,
    /// Operators' calls refused, by RPC and rule.
    pub refusals: authority::Refusals,
    /// Where the web console listens, if `console_listen` is set.
    pub console: Option<std::net::SocketAddr>,
}

/// Runs a server on `listener` until `shutdown` completes. `started` receives the
/// handles once the engine is open. Returns [`NodeError::Stopped`] when the engine
/// stopped under it (a failed commit, a thread that panicked), after health turned
/// NOT_SERVING and the server shut down: the caller exits non-zero.
pub async fn run(
    config: ServerConfig,
    registries: Registries,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    started: Option<tokio::sync::oneshot::Sender<Running>>,
) -> Result<(), NodeError> {
    let node = NodeId::new(&config.id)?;
    // The TLS files first: a bad one stops the start before the engine opens.
    let tls = match &config.transport {
        Transport::MutualTls { files, parent_id } => Some((files.read()?, parent_id.clone())),
        Transport::Plaintext => {
            tracing::warn!(node = %node, "insecure = true: links and calls are plaintext and unauthenticated");
            None
        }
    };
    let server_builder = || -> Result<tonic::transport::Server, NodeError> {
        // Pings on every connection: a child whose host vanished (no FIN, no RST) is
        // seen as gone within twice the keepalive, not kept as connected forever.
        let keepalive = std::time::Duration::from_millis(config.link.keepalive_ms);
        let mut builder = tonic::transport::Server::builder();
        if let Some((pem, _)) = &tls {
            builder = builder.tls_config(pem.server())?;
        }
        Ok(builder.http2_keepalive_interval(Some(keepalive)).http2_keepalive_timeout(Some(keepalive * 2)))
    };
    // Health and reflection answer while the store opens (NOT_SERVING until it is).
    let listener = Arc::new(listener);
    let (health, health_service) = Health::starting().await;
    let (opened_tx, opened_rx) = tokio::sync::oneshot::channel::<()>();
    let handed_over = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (reflection_v1, reflection_v1alpha) = health::reflection()?;
    let early = server_builder()?
        .add_service(health_service.clone())
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(
            health::Accepting { listener: listener.clone(), handed_over: Some(handed_over.clone()) },
            async {
                let _ = opened_rx.await;
            },
        );
    let early = tokio::spawn(early);

    let tier = config.tier;
    let scope = tree::scope(config.parent.is_none(), &config.id, &config.children);
    let replica = ReplicaConfig {
        skew_ms_max: config.link.clock_skew_ms_max,
        doc_cache_bytes_max: config.memory.doc_cache_bytes_max,
        commit_threads: commit_threads(),
        ..ReplicaConfig::new(node.clone(), scope)
    };
    let engine_config = EngineConfig {
        clock: config.clock.clone(),
        store_memory: config.memory.store,
        recent_log_bytes_max: config.memory.log_cache_bytes_max,
        ..EngineConfig::new(replica, registries.clone(), config.data_dir.clone())
    };
    let engine = tokio::task::spawn_blocking(move || Engine::start(engine_config))
        .await
        .map_err(|e| NodeError::Link { peer: "engine".into(), reason: e.to_string() })??;
    let handle = engine.handle();
    let routes = restore_routes(&handle, &node, &config).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let links = Links::default();
    let shared = Arc::new(Shared {
        engine: handle.clone(),
        tier,
        has_parent: config.parent.is_some(),
        subtree_changed: tokio::sync::Notify::new(),
        routes: Arc::new(RwLock::new(Arc::new(routes))),
        link: config.link.clone(),
        links: links.clone(),
        shutdown: stop_rx.clone(),
        refusal_log: LogBudget::default(),
        durability: Default::default(),
    });
    let parent_id = config.parent.as_deref().map(|parent| {
        let configured = match &config.transport {
            Transport::MutualTls { parent_id, .. } => parent_id.as_deref(),
            Transport::Plaintext => None,
        };
        uplink::server_id(parent, configured)
    });
    let authority = Authority::new(shared.clone(), registries.clone(), tls.is_some(), parent_id.clone());
    let callers = callers::Callers::default();
    if let Some(addr) = config.metrics_listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| NodeError::Io { what: format!("metrics listening on {addr}"), source })?;
        tracing::info!(%addr, "metrics");
        let refusals = authority.refusals.clone();
        let callers = callers.clone();
        tokio::spawn(metrics::serve(listener, handle.clone(), links.clone(), refusals, callers, stop_rx.clone()));
    }

    let console = match (config.console_listen, &tls) {
        (Some(addr), Some((pem, _))) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| NodeError::Io { what: format!("console listening on {addr}"), source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| NodeError::Io { what: format!("console listening on {addr}"), source })?;
            let console =
                Console::new(shared.clone(), authority.clone(), registries.clone(), pem.ca.clone(), parent_id);
            tokio::spawn(crate::console::serve(listener, Arc::new(console), pem.console_server()?, stop_rx.clone()));
            tracing::info!(addr = %bound, "console: https://{bound}/");
            Some(bound)
        }
        _ => None,
    };
    let uplink = config.parent.clone().map(|parent| {
        let client_tls =
            tls.as_ref().map(|(pem, parent_id)| pem.client(&uplink::server_id(&parent, parent_id.as_deref())));
        tokio::spawn(uplink::keep_up(shared.clone(), parent, client_tls))
    });
    let children = config.children.iter().cloned().collect();
    tokio::spawn(trimmer::run(shared.clone(), children, config.parent.is_some()));
    let children_set = config.children.iter().cloned().collect();
    let service = ReplicationService::new(shared.clone(), children_set, tls.is_some(), config.subtrees.clone());
    // Link frames are compressed by the session (`linli_proto::wire`), not by gRPC;
    // a child of an older version may still compress its own.
    let replication = ReplicationServer::new(service)
        .accept_compressed(CompressionEncoding::Zstd)
        .max_decoding_message_size(FRAME_BYTES_MAX)
        .max_encoding_message_size(FRAME_BYTES_MAX);
    let mut stop_on_shutdown = stop_rx.clone();
    // Shutdown comes from the caller, or from the engine stopping under the server.
    let engine_failure = Arc::new(std::sync::Mutex::new(None::<String>));
    let signal = {
        let mut stopped = handle.stopped();
        let health = health.clone();
        let engine_failure = engine_failure.clone();
        async move {
            tokio::select! {
                _ = shutdown => tracing::info!("shutting down: closing links, finishing calls"),
                reason = async { stopped.wait_for(Option::is_some).await.ok().and_then(|r| r.clone()) } => {
                    let reason = reason.unwrap_or_default();
                    tracing::error!(%reason, "the engine stopped: health is NOT_SERVING, the server shuts down and exits with an error; a restart recovers from disk");
                    health.engine_stopped().await;
                    if let Ok(mut failure) = engine_failure.lock() {
                        *failure = Some(reason);
                    }
                    // Probes and load balancers read NOT_SERVING before the port closes.
                    tokio::time::sleep(STOPPED_LINGER).await;
                }
            }
            let _ = stop_tx.send(true);
        }
    };
    let (reflection_v1, reflection_v1alpha) = health::reflection()?;
    let server = server_builder()?
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(RegistryServer::new(RegistryService::new(
            handle.clone(),
            authority.clone(),
            shared.clone(),
            config.backup_dir.clone(),
        )))
        .add_service(replication)
        .add_service(QueryServer::new(QueryService::new(
            shared.clone(),
            config.children.iter().cloned().collect(),
            authority.clone(),
            callers,
        )))
        .serve_with_incoming_shutdown(health::Accepting { listener, handed_over: None }, async move {
            let _ = stop_on_shutdown.wait_for(|stop| *stop).await;
        });
    // The early server stops accepting (a client in the middle of its TLS handshake
    // with it at this moment sees the connection close, and connects again); the full
    // server accepts from here on, so the handles go out only now.
    handed_over.store(true, std::sync::atomic::Ordering::Release);
    let _ = opened_tx.send(());
    drop(early);
    if let Some(started) = started {
        let refusals = authority.refusals.clone();
        let _ = started.send(Running { engine: handle.clone(), links: links.clone(), refusals, console });
    }
    health.opened(config.parent.is_some()).await;
    if config.parent.is_some() {
        tokio::spawn(health.clone().follow_parent(links.clone(), stop_rx.clone()));
    }
    tracing::info!(node = %node, tier = tier.as_str(), "serving");
    let signal = tokio::spawn(signal);
    // Calls still open SHUTDOWN_GRACE after the stop (a health or query Watch that its
    // client keeps) are cut: a stopping server always ends.
    let mut grace = stop_rx.clone();
    let served = tokio::select! {
        served = server => served,
        _ = async {
            let _ = grace.wait_for(|stop| *stop).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace_s = SHUTDOWN_GRACE.as_secs(), "calls still open after the shutdown grace: closing them");
            Ok(())
        }
    };
    signal.abort();
    if let Some(uplink) = uplink {
        let _ = uplink.await;
    }
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .map_err(|e| NodeError::Link { peer: "engine".into(), reason: e.to_string() })?;
    served?;
    let failure = engine_failure.lock().map(|failure| failure.clone()).unwrap_or_default();
    match failure {
        Some(reason) => Err(NodeError::Stopped { reason: Some(reason) }),
        None => Ok(()),
    }
}

/// Routes from config and what the store remembers (see `linli_core::link::tree`);
/// forgets the documents of children that moved away since the last start and are
/// named by `--forget`; refuses to start when a child is missing without it.
async fn restore_routes(engine: &EngineHandle, node: &NodeId, config: &ServerConfig) -> Result<Routes, NodeError> {
    let store = engine.store()?;
    let children: BTreeSet<String> = config.children.iter().cloned().collect();
    let forget: BTreeSet<String> = config.forget.iter().cloned().collect();
    let restored = tree::restore(node, &children, &forget, |name| store.meta(name))?;
    restored.refuse_missing()?;
    if !restored.gone.is_empty() || !restored.forget_meta.is_empty() {
        tracing::info!(owners = ?restored.gone, "children moved away: forgetting their documents and checkpoints");
        engine.forget_async(restored.gone, restored.forget_meta).await?;
    }
    if !restored.meta.is_empty() {
        engine.put_meta_async(restored.meta).await?;
    }
    Ok(restored.routes)
}

/// Threads a batch of writes makes its documents' changes on: the machine's cores, at
/// most 4 (a batch touches a few dozen documents at most).
fn commit_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().min(4))
}
