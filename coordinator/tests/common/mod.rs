//! A district in a test: real servers on 127.0.0.1:0, RocksDB in temp dirs, and TCP
//! proxies in front of parents that count bytes and can cut a link. Every link and
//! every call is mutual TLS, with certificates of one development CA per test process
//! ([`certs`]), as in a deployment.
#![allow(dead_code)]

pub mod ledger;

use linli_core::ids::RecordKey;
use linli_core::replica::Written;
use linli_core::schema::Registries;
use linli_core::write::Write;
use linli_node::config::{LinkLimits, ServerConfig, Tier, Transport};
use linli_node::server::{self, Running};
pub use linli_sim::real::proxy::Proxy;
use linli_tls::TlsFiles;
use linli_tls::dev::DevCa;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

pub const DISTRICT: &str = "lg";
/// 2026-11-22T04:00:00Z, a Sunday noon in Shenzhen.
pub const NOW_MS: i64 = 1_795_320_000_000;

/// One server of the tree.
pub struct Node {
    pub config: ServerConfig,
    pub addr: SocketAddr,
    pub running: Running,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    pub fn engine(&self) -> &linli_node::EngineHandle {
        &self.running.engine
    }

    /// Graceful shutdown; waits for it.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

pub fn link_config() -> LinkLimits {
    // Quick reconnects: the tests cut and heal links.
    // A short Hello timeout: a test of a silent stream need not wait 10 s.
    LinkLimits { backoff_ms_min: 20, backoff_ms_max: 200, hello_timeout_ms: 1_000, ..LinkLimits::default() }
}

/// The test process's CA and the certificates it signed, in a directory of their own
/// (`ca.pem`, `<id>.pem`, `<id>.key`, as `linlictl certs` writes them).
pub struct Certs {
    dir: TempDir,
    pub ca: DevCa,
    written: Mutex<std::collections::BTreeSet<String>>,
}

/// The certificate the tests' operator calls (linlictl, query clients) show at a
/// street or the district: the district's operator (`<role>--<scope>--<name>`).
pub const OPERATOR: &str = "operator--lg--tests";

/// The staff of `community`, whose calls at its node may read and write personal fields.
pub fn staff(community: &str) -> String {
    format!("staff--{community}--tests")
}

/// Who the tests call `node` as: its staff at a community, the district's operator
/// elsewhere.
pub fn caller_for(node: &ServerConfig) -> String {
    match node.tier {
        Tier::Community => staff(&node.id),
        _ => OPERATOR.to_string(),
    }
}

static CERTS: LazyLock<Certs> = LazyLock::new(|| Certs {
    dir: tempfile::tempdir().expect("certs dir"),
    ca: DevCa::new(DISTRICT).expect("CA"),
    written: Mutex::default(),
});

pub fn certs() -> &'static Certs {
    &CERTS
}

impl Certs {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `id`'s files, written on first use.
    pub fn files(&self, id: &str) -> TlsFiles {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        if written.insert(id.to_string()) {
            self.ca.write_nodes(self.dir(), &[id]).expect("certificate");
        }
        TlsFiles::in_dir(self.dir(), id)
    }

    /// A client that shows `id`'s certificate to the server `server_id`.
    pub fn client(&self, id: &str, server_id: &str) -> ClientTlsConfig {
        self.files(id).read().expect("read certificate").client(server_id)
    }
}

/// Where a child dials its parent: the parent's id (its certificate must name it) and
/// the address (the parent's, or a proxy's in front of it).
pub fn parent(id: &str, addr: SocketAddr) -> Option<(String, SocketAddr)> {
    Some((id.to_string(), addr))
}

pub fn config(
    id: &str,
    tier: Tier,
    data_dir: PathBuf,
    parent: Option<(String, SocketAddr)>,
    children: &[&str],
) -> ServerConfig {
    ServerConfig {
        id: id.into(),
        tier,
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir,
        parent: parent.as_ref().map(|(_, addr)| format!("https://{addr}")),
        children: children.iter().map(|c| c.to_string()).collect(),
        registries_dir: None,
        backup_dir: None,
        metrics_listen: None,
        console_listen: None,
        link: link_config(),
        memory: Default::default(),
        forget: Vec::new(),
        subtrees: Default::default(),
        clock: Default::default(),
        transport: Transport::MutualTls { files: certs().files(id), parent_id: parent.map(|(id, _)| id) },
    }
}

/// A channel to `node` over TLS, as the tests' operator (its staff at a community).
pub async fn channel(node: &Node) -> Channel {
    channel_as(node, &caller_for(&node.config)).await
}

/// A channel to `node` over TLS, showing `id`'s certificate.
pub async fn channel_as(node: &Node, id: &str) -> Channel {
    Endpoint::from_shared(format!("https://{}", node.addr))
        .expect("endpoint")
        .tls_config(certs().client(id, &node.config.id))
        .expect("tls")
        .connect()
        .await
        .expect("connect")
}

/// Starts a server on `listen` (port 0 for any) and waits until its engine is open.
pub async fn start(mut config: ServerConfig, listen: SocketAddr) -> Node {
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    config.listen = addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let run_config = config.clone();
    let task = tokio::spawn(async move {
        server::run(run_config, Registries::defaults().expect("registries"), listener, shutdown, Some(started_tx))
            .await
            .expect("server run");
    });
    let running = started.await.expect("server started");
    Node { config, addr, running, stop: Some(stop), task: Some(task) }
}

/// 1 district, streets, communities; each child reaches its parent through a proxy.
pub struct Tree {
    pub dir: TempDir,
    pub nodes: BTreeMap<String, Node>,
    /// Proxy in front of each child's parent, by child id.
    pub proxies: BTreeMap<String, Proxy>,
    pub parent_of: BTreeMap<String, String>,
}

impl Tree {
    /// `streets`: (street id, its communities).
    pub async fn start(streets: &[(&str, &[&str])]) -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tree = Tree { dir, nodes: BTreeMap::new(), proxies: BTreeMap::new(), parent_of: BTreeMap::new() };
        let street_ids: Vec<&str> = streets.iter().map(|(s, _)| *s).collect();
        let district = config(DISTRICT, Tier::District, tree.data_dir(DISTRICT), None, &street_ids);
        tree.nodes.insert(DISTRICT.into(), start(district, any()).await);
        for (street, communities) in streets {
            tree.start_child(street, Tier::Street, DISTRICT, communities).await;
            for community in *communities {
                tree.start_child(community, Tier::Community, street, &[]).await;
            }
        }
        tree
    }

    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }

    pub fn node(&self, id: &str) -> &Node {
        self.nodes.get(id).unwrap_or_else(|| panic!("no node {id}"))
    }

    pub fn proxy(&self, child: &str) -> &Proxy {
        self.proxies.get(child).unwrap_or_else(|| panic!("no proxy for {child}"))
    }

    /// Starts `id` under `parent` through a new proxy.
    pub async fn start_child(&mut self, id: &str, tier: Tier, parent: &str, children: &[&str]) {
        let proxy = Proxy::start(self.node(parent).addr).await.expect("proxy");
        let config = config(id, tier, self.data_dir(id), self::parent(parent, proxy.addr()), children);
        self.proxies.insert(id.into(), proxy);
        self.parent_of.insert(id.into(), parent.into());
        self.nodes.insert(id.into(), start(config, any()).await);
    }

    /// Restarts a stopped node with its config (same port, so its children's proxies
    /// find it), optionally changed.
    pub async fn restart(&mut self, id: &str, change: impl FnOnce(&mut ServerConfig)) {
        let mut node = self.nodes.remove(id).expect("node");
        node.stop().await;
        let mut config = node.config.clone();
        change(&mut config);
        let listen = node.addr;
        drop(node);
        self.nodes.insert(id.into(), start(config, listen).await);
    }

    pub async fn stop_all(&mut self) {
        for node in self.nodes.values_mut() {
            node.stop().await;
        }
    }
}

pub fn any() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

pub fn request(owner: &str, i: usize) -> Write {
    Write::create(
        owner,
        "requests",
        &[
            ("category", json!("environment")),
            ("channel", json!("qr_code")),
            ("grid", json!(format!("grid-{}", i % 7))),
            ("summary", json!(format!("路灯不亮 #{i}"))),
            ("reported_at", json!(NOW_MS)),
            ("deadline", json!(NOW_MS + 5 * 3_600_000)),
        ],
    )
}

pub async fn write(node: &Node, write: Write) -> Written {
    node.engine().write_async(write).await.expect("write")
}

pub async fn get(node: &Node, key: &RecordKey) -> Option<serde_json::Value> {
    node.engine().get_async(key.clone()).await.expect("get").map(|r| r.to_json())
}

/// Polls `check` until it holds or `timeout` passes; panics with `what` then.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Every document of `node` as JSON.
pub async fn docs(node: &Node) -> BTreeMap<String, serde_json::Value> {
    node.engine().materialize_async().await.expect("materialize")
}

/// Whether every document `child` holds is equal at `parent`.
pub async fn holds_same(child: &Node, parent: &Node) -> bool {
    let (mine, theirs) = (docs(child).await, docs(parent).await);
    mine.iter().all(|(doc, json)| theirs.get(doc) == Some(json))
}

/// Whether every node's views equal a recount of its documents.
pub async fn views_match_recount(node: &Node) -> bool {
    let engine = node.engine();
    engine.views_async().await.expect("views") == engine.recount_async().await.expect("recount")
}
