//! Real mode: every node of the topology is a real linli server (tonic over loopback,
//! RocksDB in a directory of its own), each child reaching its parent through a
//! [`Proxy`] that counts the link's bytes and carries its faults. A node runs in this
//! process (`linli_node::server::run`), or as a child process of the production binary
//! ([`process`]) when a `kill` fault needs to SIGKILL it, or when every node is asked
//! to (`--processes all`).
//!
//! Each node sits behind a gate: the workload's writes and reads hold it shared, a
//! crash, a kill or a wipe holds it exclusive, so a node is never stopped under a write
//! the workload has not seen answered (an unanswered write would be neither
//! acknowledged nor surely lost, and the ledger could not account for it). What a kill
//! does cut is everything else the node is doing: its links' batches being applied and
//! acknowledged, its children's catch-up, its group commits of peers' changes, its
//! compactions.
//!
//! Before the checks, [`RealDistrict::adopt_all`] stops each process gracefully and
//! opens its data directory in this process again: the checks read every node's
//! documents and views directly, as they do for the others.

pub mod collector;
pub mod driven;
pub mod memory;
pub mod process;
pub mod proxy;
mod reshape;

use crate::error::SimError;
use crate::report::{ZSTD_ENTRIES_MAX, zstd_bytes};
use crate::run::NodeLimits;
use crate::topology::Topology;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::Written;
use linli_core::schema::Registries;
use linli_core::store::Storage;
use linli_core::views::Views;
use linli_core::write::Write;
use linli_node::NodeError;
use linli_node::config::{LinkLimits, MemoryLimits, ServerConfig, Tier, Transport};
use linli_node::link::status::LinkStatus;
use linli_node::server::{self, Running};
use process::{Binaries, NodeProcess};
use proxy::Proxy;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{RwLock, oneshot};
use tokio::task::JoinHandle;

/// A node that is up: a server task in this process, or a child process.
enum Up {
    Here(Served),
    Process(Box<NodeProcess>),
}

struct Served {
    running: Running,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), NodeError>>,
}

struct Slot {
    /// Changed only under the gate's exclusive hold (a move reconfigures a node).
    config: std::sync::Mutex<ServerConfig>,
    tier: Tier,
    /// Started (and restarted) as a child process.
    process: AtomicBool,
    /// Takes none of the workload's writes: handing over in a move, or split (it
    /// serves its history).
    closed: AtomicBool,
    /// `None` while the node is down.
    up: RwLock<Option<Up>>,
}

impl Slot {
    fn new(config: ServerConfig, tier: Tier, process: bool, up: Option<Up>) -> Self {
        Slot { config: config.into(), tier, process: process.into(), closed: false.into(), up: RwLock::new(up) }
    }

    fn config(&self) -> ServerConfig {
        self.config.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Which nodes run as child processes.
#[derive(Debug, Clone, Default)]
pub struct Processes {
    pub nodes: BTreeSet<String>,
    /// Where `linli-node` and `linli-coordinator` are (default: beside this executable).
    pub bin_dir: Option<PathBuf>,
}

/// The name in the identities the simulator's own calls to a node show.
pub const SIM_CLIENT: &str = "linli-sim";

/// The operator's identity the simulator shows when it calls `node`: a community's
/// staff at a community (its workload writes residents' names and phones there), the
/// district's operator elsewhere.
pub fn sim_client(district: &str, node: &str, tier: linli_node::config::Tier) -> String {
    match tier {
        linli_node::config::Tier::Community => format!("staff--{node}--{SIM_CLIENT}"),
        _ => format!("operator--{district}--{SIM_CLIENT}"),
    }
}

pub struct RealDistrict {
    root: PathBuf,
    /// Where every node's certificate is, from one CA made for the run; `None`: the
    /// run is plaintext (`--plaintext`).
    certs: Option<PathBuf>,
    /// What every node may hold in memory.
    memory: MemoryLimits,
    registries: Registries,
    bins: Option<Binaries>,
    slots: BTreeMap<String, Slot>,
    /// The proxy in front of each child's parent, by child id.
    proxies: BTreeMap<String, Proxy>,
}

impl RealDistrict {
    /// Starts every node of `topology` under `root`, parents first. The communities a
    /// split will make (those of `later` not in `topology`) get their place and their
    /// proxy now, and start at the split.
    pub async fn start(
        topology: &Topology,
        later: &Topology,
        registries: Registries,
        limits: NodeLimits,
        root: &Path,
        processes: &Processes,
        plaintext: bool,
    ) -> Result<Self, SimError> {
        if !topology.districts.is_empty() {
            // The simulator calls every node as the top's operator, and a node takes an
            // operator of its own scope or its parent's only: a street two tiers under
            // the city would refuse it.
            return Err(SimError::BadTopology {
                reason: format!(
                    "`{}` is a city: real mode runs a district's tree (run a city with --mode sim)",
                    topology.top
                ),
            });
        }
        let certs = match plaintext {
            true => None,
            false => Some(write_certs(topology, later, root)?),
        };
        let mut bins = match processes.nodes.is_empty() {
            true => None,
            false => Some(Binaries::find(processes.bin_dir.as_deref())?),
        };
        if let (Some(bins), Some(dir)) = (bins.as_mut(), certs.as_ref()) {
            bins.client_certs = Some(process::ClientCerts { dir: dir.clone(), district: topology.top.clone() });
        }
        let link = &limits.link;
        let mut district = RealDistrict {
            memory: limits.memory,
            root: root.to_path_buf(),
            certs,
            registries,
            bins,
            slots: BTreeMap::new(),
            proxies: BTreeMap::new(),
        };
        let as_process = |id: &str| processes.nodes.contains(id);
        // From the top down, so that every parent listens before its children dial it.
        for coordinator in topology.coordinators() {
            let (id, parent) = (coordinator.id.as_str(), coordinator.parent.as_deref());
            district.add(id, coordinator.tier, parent, coordinator.children.clone(), link, as_process(id)).await?;
        }
        // Communities start in parallel: opening a store is most of a start.
        let mut starting = tokio::task::JoinSet::new();
        for street in &topology.streets {
            for community in &street.communities {
                let parent_addr = district.addr(&street.id)?;
                let proxy = Proxy::start(parent_addr)
                    .await
                    .map_err(|e| SimError::Io { what: format!("proxy for {}", community.id), source: e })?;
                let parent = Some((street.id.as_str(), proxy.addr()));
                let mut config = district.config(&community.id, Tier::Community, parent, Vec::new(), link);
                district.proxies.insert(community.id.clone(), proxy);
                let process = as_process(&community.id);
                let (registries, bins) = (district.registries.clone(), district.bins.clone());
                starting.spawn(async move {
                    let up = first_start(&mut config, registries, process, bins.as_ref()).await;
                    (config, process, up)
                });
            }
        }
        while let Some(started) = starting.join_next().await {
            let (config, process, up) =
                started.map_err(|e| SimError::Run { reason: format!("a node's start panicked: {e}") })?;
            let up = up?;
            let id = config.id.clone();
            let slot = Slot::new(config, Tier::Community, process, Some(up));
            district.slots.insert(id, slot);
        }
        for street in &later.streets {
            let new: Vec<_> = street.communities.iter().filter(|c| !district.slots.contains_key(&c.id)).collect();
            for community in new {
                let proxy = Proxy::start(district.addr(&street.id)?)
                    .await
                    .map_err(|e| SimError::Io { what: format!("proxy for {}", community.id), source: e })?;
                let parent = Some((street.id.as_str(), proxy.addr()));
                let mut config = district.config(&community.id, Tier::Community, parent, Vec::new(), link);
                district.proxies.insert(community.id.clone(), proxy);
                // Its own address from the start: a restart must find it again.
                config.listen = process::free_addr()?;
                let slot = Slot::new(config, Tier::Community, false, None);
                district.slots.insert(community.id.clone(), slot);
            }
        }
        Ok(district)
    }

    async fn add(
        &mut self,
        id: &str,
        tier: Tier,
        parent: Option<&str>,
        children: Vec<String>,
        link: &LinkLimits,
        process: bool,
    ) -> Result<(), SimError> {
        let proxy = match parent {
            Some(parent) => Some(
                Proxy::start(self.addr(parent)?)
                    .await
                    .map_err(|e| SimError::Io { what: format!("proxy for {id}"), source: e })?,
            ),
            None => None,
        };
        let up = parent.zip(proxy.as_ref().map(Proxy::addr));
        let mut config = self.config(id, tier, up, children, link);
        if let Some(proxy) = proxy {
            self.proxies.insert(id.to_string(), proxy);
        }
        let up = first_start(&mut config, self.registries.clone(), process, self.bins.as_ref()).await?;
        self.slots.insert(id.to_string(), Slot::new(config, tier, process, Some(up)));
        Ok(())
    }

    fn config(
        &self,
        id: &str,
        tier: Tier,
        parent: Option<(&str, SocketAddr)>,
        children: Vec<String>,
        link: &LinkLimits,
    ) -> ServerConfig {
        let (scheme, transport) = match &self.certs {
            None => ("http", Transport::Plaintext),
            Some(dir) => {
                let files = linli_tls::TlsFiles::in_dir(dir, id);
                ("https", Transport::MutualTls { files, parent_id: parent.map(|(id, _)| id.to_string()) })
            }
        };
        // The top's console, so that a newcomer can watch the run (over TLS only: the
        // console signs operators in against the CA).
        let console_listen = match (parent, &self.certs) {
            (None, Some(_)) => process::free_addr().ok(),
            _ => None,
        };
        ServerConfig {
            console_listen,
            id: id.to_string(),
            tier,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: self.root.join(id),
            parent: parent.map(|(_, addr)| format!("{scheme}://{addr}")),
            children,
            registries_dir: None,
            backup_dir: None,
            metrics_listen: None,
            link: link.clone(),
            memory: self.memory,
            forget: Vec::new(),
            subtrees: Default::default(),
            clock: Default::default(),
            transport,
        }
    }

    /// The top's console and a sign-in ticket for it, as the run's operator (valid
    /// for the longest a ticket may be); `None` in plaintext.
    pub fn console(&self, top: &str) -> Option<(SocketAddr, String)> {
        let dir = self.certs.as_ref()?;
        let addr = self.slots.get(top)?.config().console_listen?;
        let operator = sim_client(top, top, self.slots.get(top)?.tier);
        let pem = linli_tls::TlsFiles::in_dir(dir, &operator).read().ok()?;
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64;
        let expires_ms = now_ms + linli_tls::ticket::TICKET_LIFETIME_MS_MAX;
        let ticket = linli_tls::ticket::sign(&pem.cert, &pem.key, top, expires_ms).ok()?;
        Some((addr, ticket))
    }

    fn slot(&self, node: &str) -> Result<&Slot, SimError> {
        self.slots.get(node).ok_or_else(|| SimError::NoNode { node: node.to_string() })
    }

    fn addr(&self, node: &str) -> Result<SocketAddr, SimError> {
        Ok(self.slot(node)?.config().listen)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, Tier)> {
        self.slots.iter().map(|(id, slot)| (id.as_str(), slot.tier))
    }

    /// Writes at `node`; `Ok(None)` while the node is down or closed (see [`Self::close`]).
    pub async fn write(&self, node: &str, write: Write) -> Result<Option<Written>, SimError> {
        let slot = self.slot(node)?;
        let up = slot.up.read().await;
        if slot.closed.load(Ordering::SeqCst) {
            return Ok(None);
        }
        match up.as_ref() {
            None => Ok(None),
            Some(Up::Here(served)) => served
                .running
                .engine
                .write_async(write)
                .await
                .map(Some)
                .map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) }),
            Some(Up::Process(process)) => process.write(&write).await.map(Some),
        }
    }

    /// Reads at `node`; `Ok(None)` while the node is down or the record unknown there.
    pub async fn get(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        let up = self.slot(node)?.up.read().await;
        match up.as_ref() {
            None => Ok(None),
            Some(Up::Here(served)) => served
                .running
                .engine
                .get_async(key.clone())
                .await
                .map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) }),
            Some(Up::Process(process)) => process.get(key).await,
        }
    }

    /// See [`crate::driver::District::changes_zstd_bytes`]: read from an in-process
    /// node's store.
    pub async fn changes_zstd_bytes(&self, node: &str, after: u64, through: u64) -> Result<Option<u64>, SimError> {
        let up = self.slot(node)?.up.read().await;
        let Some(Up::Here(served)) = up.as_ref() else { return Ok(None) };
        let failed = |e: NodeError| SimError::Node { node: node.to_string(), source: Box::new(e) };
        let store = served.running.engine.store().map_err(failed)?;
        let count = usize::try_from(through.saturating_sub(after)).unwrap_or(usize::MAX).min(ZSTD_ENTRIES_MAX);
        let entries = match store.log_after(after, count) {
            Ok(entries) => entries,
            // Trimmed meanwhile: nothing to compare with.
            Err(linli_core::Error::LogTrimmed { .. }) => return Ok(None),
            Err(e) => return Err(failed(NodeError::from(e))),
        };
        Ok(zstd_bytes(entries.iter().flat_map(|e| e.changes.iter().map(Vec::as_slice))))
    }

    /// The end of `node`'s log and its links by peer; `None` while it is down.
    pub async fn log_and_links(&self, node: &str) -> Result<Option<(u64, BTreeMap<String, LinkStatus>)>, SimError> {
        let up = self.slot(node)?.up.read().await;
        match up.as_ref() {
            None => Ok(None),
            Some(up) => log_and_links_of(up).await.map(Some),
        }
    }

    /// The end of `node`'s log; `None` while it is down.
    pub async fn log_end(&self, node: &str) -> Result<Option<u64>, SimError> {
        Ok(self.log_and_links(node).await?.map(|(end, _)| end))
    }

    /// The link statuses `node` holds, by peer (empty while it is down).
    pub async fn links(&self, node: &str) -> Result<BTreeMap<String, LinkStatus>, SimError> {
        Ok(self.log_and_links(node).await?.map(|(_, links)| links).unwrap_or_default())
    }

    /// Resident memory of the nodes that run as processes (this process's own is
    /// counted by the caller). A node whose gate a fault holds (it is stopping,
    /// starting or handing over) is not waited for: it counts 0 in this sample.
    pub fn processes_rss_bytes(&self) -> u64 {
        let mut total = 0;
        for slot in self.slots.values() {
            if let Ok(up) = slot.up.try_read()
                && let Some(Up::Process(process)) = up.as_ref()
            {
                total += process.rss_bytes();
            }
        }
        total
    }

    /// Every node run as a process that serves metrics: (id, tier, address), for the
    /// memory probe.
    pub fn metrics_addrs(&self) -> Vec<(String, String, SocketAddr)> {
        let process = self.slots.iter().filter(|(_, slot)| slot.process.load(std::sync::atomic::Ordering::Relaxed));
        process
            .filter_map(|(id, slot)| Some((id.clone(), slot.tier.as_str().to_string(), slot.config().metrics_listen?)))
            .collect()
    }

    /// The most entries an in-process node's log holds now (its end less what it
    /// trimmed), and the most any wrote; nodes run as processes, or busy stopping,
    /// are not looked at.
    pub fn log_entries_max(&self) -> (u64, u64) {
        let (mut most, mut written) = (0, 0);
        for slot in self.slots.values() {
            if let Ok(up) = slot.up.try_read()
                && let Some(Up::Here(served)) = up.as_ref()
                && let Ok(store) = served.running.engine.store()
                && let (Ok(end), Ok(trimmed)) = (store.log_last_seq(), store.log_trimmed())
            {
                most = most.max(end.saturating_sub(trimmed));
                written = written.max(end);
            }
        }
        (most, written)
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

    /// Runs `node`'s clock `skew_ms` off this machine's (0: back on time), for the
    /// engine's stamps, from now on and across restarts. A node run as a process reads
    /// the machine's clock: refused.
    pub fn set_skew_ms(&self, node: &str, skew_ms: i64) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        if slot.process.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SimError::Unsupported {
                what: format!("a clock skew of {node}"),
                mode: "real",
                why: "it runs as a process of the production binary, which reads this machine's clock".into(),
            });
        }
        // The clock is shared by every clone of the slot's config: the running server's too.
        slot.config().clock.set_offset_ms(skew_ms);
        Ok(())
    }

    /// SIGKILL to `node`'s process, after the workload's writes in flight there are
    /// answered; it stays down until [`Self::restart`].
    pub async fn kill(&self, node: &str) -> Result<(), SimError> {
        let mut up = self.slot(node)?.up.write().await;
        match up.take() {
            Some(Up::Process(process)) => process.kill().await,
            Some(here @ Up::Here(_)) => {
                *up = Some(here);
                Err(SimError::Run { reason: format!("{node} runs in this process: only a process can be killed") })
            }
            None => Ok(()),
        }
    }

    /// Stops `node`, deletes its data directory, and leaves it down.
    pub async fn wipe(&self, node: &str) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        if let Some(running) = up.take() {
            shut(node, running).await?;
        }
        let data_dir = slot.config().data_dir;
        std::fs::remove_dir_all(&data_dir)
            .map_err(|e| SimError::Io { what: format!("wiping {}", data_dir.display()), source: e })
    }

    /// Copies `node`'s data directory aside (`<dir>.backup`), as an operator's backup:
    /// the node is stopped gracefully for the copy, so that the copy is consistent, and
    /// started again.
    pub async fn backup(&self, node: &str) -> Result<(), SimError> {
        self.copy_stopped(node, true).await
    }

    /// Stops `node`, puts its last backup in place of its data directory, and starts
    /// it again.
    pub async fn restore(&self, node: &str) -> Result<(), SimError> {
        self.copy_stopped(node, false).await
    }

    /// Stops `node`, replaces its backup with its data directory (`to_backup`) or the
    /// other way round, and starts it again.
    async fn copy_stopped(&self, node: &str, to_backup: bool) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        {
            let mut up = slot.up.write().await;
            if let Some(running) = up.take() {
                shut(node, running).await?;
            }
            let data_dir = slot.config().data_dir;
            let copy = backup_dir(&data_dir);
            let (from, to) = if to_backup { (&data_dir, &copy) } else { (&copy, &data_dir) };
            replace_dir(from, to).map_err(|source| SimError::Io {
                what: format!("copying {} over {}", from.display(), to.display()),
                source,
            })?;
        }
        self.restart(node).await
    }

    /// Starts a stopped `node` again on its old address, so its children's proxies
    /// find it.
    pub async fn restart(&self, node: &str) -> Result<(), SimError> {
        let slot = self.slot(node)?;
        let mut up = slot.up.write().await;
        if up.is_none() {
            let process = slot.process.load(Ordering::SeqCst);
            let (started, _) = start_node(slot.config(), self.registries.clone(), process, self.bins.as_ref()).await?;
            *up = Some(started);
        }
        Ok(())
    }

    /// Stops every node that runs as a process gracefully and starts it again in this
    /// process on the same data directory and address, so the checks read it directly.
    pub async fn adopt_all(&self) -> Result<(), SimError> {
        for (node, slot) in &self.slots {
            if slot.process.swap(false, Ordering::SeqCst) {
                self.stop(node).await?;
                self.restart(node).await?;
            }
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

async fn log_and_links_of(up: &Up) -> Result<(u64, BTreeMap<String, LinkStatus>), SimError> {
    match up {
        Up::Here(served) => Ok((*served.running.engine.log_end().borrow(), served.running.links.all())),
        Up::Process(process) => process.links().await,
    }
}

/// Process starts at most, each on a new port, before a node's first start fails.
const FIRST_START_TRIES_MAX: usize = 3;

/// A node's first start: in this process on a port of its own choosing, or as a
/// process on a free port, tried again on another if the first is taken meanwhile.
/// Sets `config.listen` to where it listens.
/// A CA for the run and a certificate for every node the run will have (`later`
/// holds those a split makes) and for the simulator's own calls, in `root/certs`.
fn write_certs(topology: &Topology, later: &Topology, root: &Path) -> Result<PathBuf, SimError> {
    let failed = |e: linli_tls::TlsError| SimError::Run { reason: format!("the run's certificates: {e}") };
    let ca = linli_tls::dev::DevCa::new(&topology.top).map_err(failed)?;
    let operator = sim_client(&topology.top, &topology.top, topology.top_tier());
    let staff = topology
        .communities()
        .chain(later.communities())
        .map(|c| sim_client(&topology.top, &c.id, linli_node::config::Tier::Community));
    let ids: BTreeSet<String> = topology.node_ids().chain(later.node_ids()).chain([operator]).chain(staff).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let dir = root.join("certs");
    ca.write_nodes(&dir, &ids).map_err(failed)?;
    Ok(dir)
}

async fn first_start(
    config: &mut ServerConfig,
    registries: Registries,
    process: bool,
    bins: Option<&Binaries>,
) -> Result<Up, SimError> {
    let mut tries = 0;
    loop {
        if process {
            config.listen = process::free_addr()?;
            // For the memory probe (`memory`): a process's own metrics.
            config.metrics_listen = Some(process::free_addr()?);
        }
        tries += 1;
        match start_node(config.clone(), registries.clone(), process, bins).await {
            Ok((up, addr)) => {
                config.listen = addr;
                return Ok(up);
            }
            Err(e) if process && tries < FIRST_START_TRIES_MAX => {
                tracing::warn!(node = %config.id, error = %e, "a process did not start; another port");
            }
            Err(e) => return Err(e),
        }
    }
}

async fn start_node(
    config: ServerConfig,
    registries: Registries,
    process: bool,
    bins: Option<&Binaries>,
) -> Result<(Up, SocketAddr), SimError> {
    if !process {
        let listen = config.listen;
        return launch(config, registries, listen).await.map(|(served, addr)| (Up::Here(served), addr));
    }
    let bins =
        bins.ok_or_else(|| SimError::Run { reason: format!("{}: no binaries to run it as a process", config.id) })?;
    let process = NodeProcess::spawn(bins, &config, registries).await?;
    Ok((Up::Process(Box::new(process)), config.listen))
}

async fn launch(
    config: ServerConfig,
    registries: Registries,
    listen: SocketAddr,
) -> Result<(Served, SocketAddr), SimError> {
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
        Ok(running) => Ok((Served { running, stop, task }, addr)),
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

/// Where a node's backup goes: beside its data directory.
fn backup_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    let mut name = data_dir.file_name().unwrap_or_default().to_os_string();
    name.push(".backup");
    data_dir.with_file_name(name)
}

/// Replaces `to` with a copy of `from`.
fn replace_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    copy_dir(from, to)
}

/// Copies a directory tree (a stopped node's RocksDB files: plain files in a few
/// directories).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

async fn shut(node: &str, up: Up) -> Result<(), SimError> {
    let served = match up {
        Up::Here(served) => served,
        Up::Process(process) => return process.terminate().await,
    };
    let _ = served.stop.send(());
    match served.task.await {
        Ok(result) => result.map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) }),
        Err(e) => Err(SimError::Node {
            node: node.to_string(),
            source: Box::new(NodeError::Stopped { reason: Some(format!("server task failed: {e}")) }),
        }),
    }
}

impl RealDistrict {
    /// The in-process handles the checks read; an error for a process not adopted yet.
    async fn inspected(&self, node: &str) -> Result<Option<Running>, SimError> {
        match self.slot(node)?.up.read().await.as_ref() {
            Some(Up::Here(served)) => Ok(Some(served.running.clone())),
            Some(Up::Process(_)) => Err(SimError::Run {
                reason: format!("{node} still runs as a process: the checks read it after adopt_all"),
            }),
            None => Ok(None),
        }
    }
}

impl crate::checks::Inspect for RealDistrict {
    fn node_ids(&self) -> Vec<String> {
        self.slots.keys().cloned().collect()
    }

    async fn docs(&self, node: &str) -> Result<BTreeMap<String, serde_json::Value>, SimError> {
        let running = self.inspected(node).await?.ok_or_else(|| SimError::NoNode { node: node.to_string() })?;
        running
            .engine
            .materialize_async()
            .await
            .map_err(|e| SimError::Node { node: node.to_string(), source: Box::new(e) })
    }

    async fn views_and_recount(&self, node: &str) -> Result<Option<(Views, Views)>, SimError> {
        let Some(running) = self.inspected(node).await? else { return Ok(None) };
        let error = |e| SimError::Node { node: node.to_string(), source: Box::new(e) };
        let views = running.engine.views_async().await.map_err(error)?;
        let recounted = running.engine.recount_async().await.map_err(error)?;
        Ok(Some((views, recounted)))
    }

    async fn record(&self, node: &str, key: &RecordKey) -> Result<Option<Record>, SimError> {
        self.inspected(node).await?;
        self.get(node, key).await
    }
}
