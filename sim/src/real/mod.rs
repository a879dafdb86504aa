//! Real mode: every node of the topology is a real linli server (tonic over loopback,
//! RocksDB in a directory of its own) in this process, each child reaching its parent
//! through a [`Proxy`] that counts the link's bytes and carries its faults.
//!
//! Each node sits behind a gate: the workload's writes and reads hold it shared, a
//! crash or a wipe holds it exclusive, so a node is never stopped under a write the
//! workload has not seen answered (an unanswered write would be neither acknowledged
//! nor surely lost, and the ledger could not account for it).

pub mod proxy;

use crate::error::SimError;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::Written;
use linli_core::schema::Registries;
use linli_core::views::Views;
use linli_core::write::Write;
use linli_node::NodeError;
use linli_node::config::{LinkConfig, ServerConfig, Tier};
use linli_node::link::status::LinkStatus;
use linli_node::server::{self, Running};
use proxy::Proxy;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::{RwLock, oneshot};
use tokio::task::JoinHandle;

struct Up {
    running: Running,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), NodeError>>,
}

struct Slot {
    config: ServerConfig,
    tier: Tier,
    /// `None` while the node is down.
    up: RwLock<Option<Up>>,
}

pub struct RealDistrict {
    root: PathBuf,
    registries: Registries,
    slots: BTreeMap<String, Slot>,
    /// The proxy in front of each child's parent, by child id.
    proxies: BTreeMap<String, Proxy>,
}

impl RealDistrict {
    /// Starts every node of `topology` under `root`, parents first.
    pub async fn start(
        topology: &Topology,
        registries: Registries,
        link: LinkConfig,
        root: &Path,
    ) -> Result<Self, SimError> {
        let mut district =
            RealDistrict { root: root.to_path_buf(), registries, slots: BTreeMap::new(), proxies: BTreeMap::new() };
        let streets: Vec<String> = topology.streets.iter().map(|s| s.id.clone()).collect();
        district.add(&topology.district, Tier::District, None, streets, &link).await?;
        for street in &topology.streets {
            let communities = street.communities.iter().map(|c| c.id.clone()).collect();
            district.add(&street.id, Tier::Street, Some(&topology.district), communities, &link).await?;
        }
        // Communities start in parallel: opening a store is most of a start.
        let mut starting = tokio::task::JoinSet::new();
        for street in &topology.streets {
            for community in &street.communities {
                let parent_addr = district.addr(&street.id)?;
                let proxy = Proxy::start(parent_addr)
                    .await
                    .map_err(|e| SimError::Io { what: format!("proxy for {}", community.id), source: e })?;
                let config = district.config(&community.id, Tier::Community, Some(proxy.addr()), Vec::new(), &link);
                district.proxies.insert(community.id.clone(), proxy);
                let registries = district.registries.clone();
                starting.spawn(async move {
                    let up = launch(config.clone(), registries, config.listen).await;
                    (config, up)
                });
            }
        }
        while let Some(started) = starting.join_next().await {
            let (mut config, up) =
                started.map_err(|e| SimError::Run { reason: format!("a node's start panicked: {e}") })?;
            let (up, addr) = up?;
            config.listen = addr;
            district.slots.insert(config.id.clone(), Slot { config, tier: Tier::Community, up: RwLock::new(Some(up)) });
        }
        Ok(district)
    }

    async fn add(
        &mut self,
        id: &str,
        tier: Tier,
        parent: Option<&str>,
        children: Vec<String>,
        link: &LinkConfig,
    ) -> Result<(), SimError> {
        let proxy = match parent {
            Some(parent) => Some(
                Proxy::start(self.addr(parent)?)
                    .await
                    .map_err(|e| SimError::Io { what: format!("proxy for {id}"), source: e })?,
            ),
            None => None,
        };
        let mut config = self.config(id, tier, proxy.as_ref().map(Proxy::addr), children, link);
        if let Some(proxy) = proxy {
            self.proxies.insert(id.to_string(), proxy);
        }
        let (up, addr) = launch(config.clone(), self.registries.clone(), config.listen).await?;
        config.listen = addr;
        self.slots.insert(id.to_string(), Slot { config, tier, up: RwLock::new(Some(up)) });
        Ok(())
    }

    fn config(
        &self,
        id: &str,
        tier: Tier,
        parent: Option<SocketAddr>,
        children: Vec<String>,
        link: &LinkConfig,
    ) -> ServerConfig {
        ServerConfig {
            id: id.to_string(),
            tier,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: self.root.join(id),
            parent: parent.map(|addr| format!("http://{addr}")),
            children,
            registries_dir: None,
            metrics_listen: None,
            link: link.clone(),
        }
    }

    fn slot(&self, node: &str) -> Result<&Slot, SimError> {
        self.slots.get(node).ok_or_else(|| SimError::NoNode { node: node.to_string() })
    }

    fn addr(&self, node: &str) -> Result<SocketAddr, SimError> {
        Ok(self.slot(node)?.config.listen)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, Tier)> {
        self.slots.iter().map(|(id, slot)| (id.as_str(), slot.tier))
    }

    /// Writes at `node`; `Ok(None)` while the node is down.
    pub async fn write(&self, node: &str, write: Write) -> Result<Option<Written>, SimError> {
        let up = self.slot(node)?.up.read().await;
        let Some(up) = up.as_ref() else { return Ok(None) };
        let written = up.running.engine.write_async(write).await;
        written.map(Some).map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) })
    }

    /// Reads at `node`; `Ok(None)` while the node is down or the record unknown there.
    pub async fn get(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        let up = self.slot(node)?.up.read().await;
        let Some(up) = up.as_ref() else { return Ok(None) };
        up.running
            .engine
            .get_async(key.clone())
            .await
            .map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) })
    }

    /// The running handles of `node`, if it is up.
    pub async fn running(&self, node: &str) -> Result<Option<Running>, SimError> {
        Ok(self.slot(node)?.up.read().await.as_ref().map(|up| up.running.clone()))
    }

    /// The link statuses `node` holds, by peer (empty while it is down).
    pub async fn links(&self, node: &str) -> Result<BTreeMap<String, LinkStatus>, SimError> {
        Ok(self.running(node).await?.map(|r| r.links.all()).unwrap_or_default())
    }

    pub fn proxy(&self, child: &str) -> Result<&Proxy, SimError> {
        self.proxies.get(child).ok_or_else(|| SimError::NoNode { node: child.to_string() })
    }

    /// Bytes on every link since the start.
    pub fn bytes_on_links(&self) -> u64 {
        self.proxies.values().map(Proxy::bytes).sum()
    }

    /// Stops `node` gracefully, after the writes in flight there are answered.
    pub async fn stop(&self, node: &str) -> Result<(), SimError> {
        let mut up = self.slot(node)?.up.write().await;
        if let Some(up) = up.take() {
            shut(node, up).await?;
        }
        Ok(())
    }

    /// Stops `node`, deletes its data directory, and leaves it down.
    pub async fn wipe(&self, node: &str) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        if let Some(running) = up.take() {
            shut(node, running).await?;
        }
        std::fs::remove_dir_all(&slot.config.data_dir)
            .map_err(|e| SimError::Io { what: format!("wiping {}", slot.config.data_dir.display()), source: e })
    }

    /// Starts a stopped `node` again on its old address, so its children's proxies
    /// find it.
    pub async fn restart(&self, node: &str) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        if up.is_none() {
            let (started, _) = launch(slot.config.clone(), self.registries.clone(), slot.config.listen).await?;
            *up = Some(started);
        }
        Ok(())
    }

    pub async fn stop_all(&self) -> Result<(), SimError> {
        for node in self.slots.keys() {
            self.stop(node).await?;
        }
        Ok(())
    }
}

async fn launch(
    config: ServerConfig,
    registries: Registries,
    listen: SocketAddr,
) -> Result<(Up, SocketAddr), SimError> {
    let node = config.id.clone();
    let io = |e| SimError::Io { what: format!("listening for {node} on {listen}"), source: e };
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let mut config = config;
    config.listen = addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let (started_tx, started) = oneshot::channel();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let task = tokio::spawn(server::run(config, registries, listener, shutdown, Some(started_tx)));
    match started.await {
        Ok(running) => Ok((Up { running, stop, task }, addr)),
        // The server ended before its engine opened: its error says why.
        Err(_) => {
            let reason = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "stopped before it started".to_string(),
                Err(e) => e.to_string(),
            };
            Err(SimError::Node { node: node.clone(), source: Box::new(NodeError::Stopped { reason: Some(reason) }) })
        }
    }
}

async fn shut(node: &str, up: Up) -> Result<(), SimError> {
    let _ = up.stop.send(());
    match up.task.await {
        Ok(result) => result.map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) }),
        Err(e) => Err(SimError::Node {
            node: node.to_string(),
            source: Box::new(NodeError::Stopped { reason: Some(format!("server task failed: {e}")) }),
        }),
    }
}

impl crate::checks::Inspect for RealDistrict {
    fn node_ids(&self) -> Vec<String> {
        self.slots.keys().cloned().collect()
    }

    async fn docs(&self, node: &str) -> Result<BTreeMap<String, serde_json::Value>, SimError> {
        let running = self.running(node).await?.ok_or_else(|| SimError::NoNode { node: node.to_string() })?;
        running
            .engine
            .materialize_async()
            .await
            .map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) })
    }

    async fn views_and_recount(&self, node: &str) -> Result<Option<(Views, Views)>, SimError> {
        let Some(running) = self.running(node).await? else { return Ok(None) };
        let error = |e| SimError::Node { node: node.to_string(), source: Box::new(e) };
        let views = running.engine.views_async().await.map_err(error)?;
        let recounted = running.engine.recount_async().await.map_err(error)?;
        Ok(Some((views, recounted)))
    }

    async fn record(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        self.get(node, key).await
    }
}
