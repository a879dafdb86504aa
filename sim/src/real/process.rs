//! A node of a real run as a child process: the production binary (`linli-node serve`
//! for a community, `linli-coordinator` for a street or the district) with the node's
//! config passed as flags and `LINLI_LINK_*` variables, reached over gRPC as any client
//! reaches it. This is what a `kill` fault needs: SIGKILL ends the process wherever it
//! is (a group commit of peers' changes half done, a link mid-batch, a compaction), and
//! the restart must recover from what its disk holds.
//!
//! The process writes its log to `<node>.log` beside its data directory; a process that
//! exits by itself is an error of the run, named with that log.

use crate::error::SimError;
use linli_core::doc::Record;
use linli_core::ids::RecordKey;
use linli_core::replica::{SplitReport, SplitRule, Written};
use linli_core::schema::Registries;
use linli_core::write::Write;
use linli_node::NodeError;
use linli_node::config::{ServerConfig, Tier, Transport};
use linli_node::link::status::LinkStatus;
use linli_proto::convert::record_from_json;
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::registry_client::RegistryClient;
use linli_tls::files::TlsPem;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

/// A started process must answer within this long (RocksDB opens, the server binds).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// A graceful stop (SIGTERM: links close, calls finish, the engine syncs) within this long.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// One call to a node; a loaded two-core machine can take a while, a hung node longer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The certificates of the simulator's own calls: in `dir`, one per role it takes.
#[derive(Debug, Clone)]
pub struct ClientCerts {
    pub dir: PathBuf,
    pub district: String,
}

impl ClientCerts {
    /// What the simulator shows when it calls `node` (see [`super::sim_client`]).
    pub fn pem(&self, node: &str, tier: linli_node::config::Tier) -> Result<TlsPem, SimError> {
        let id = super::sim_client(&self.district, node, tier);
        linli_tls::TlsFiles::in_dir(&self.dir, &id).read().map_err(|e| SimError::Run { reason: e.to_string() })
    }
}

/// Where the production binaries are, and how the simulator calls the processes.
#[derive(Debug, Clone)]
pub struct Binaries {
    node: PathBuf,
    coordinator: PathBuf,
    /// Where the certificates the simulator's calls show are, when the nodes run over
    /// TLS (see [`super::sim_client`]).
    pub client_certs: Option<ClientCerts>,
}

impl Binaries {
    /// In `dir`, or else beside this executable (or one folder up: a test binary lives
    /// in `deps/` below the binaries it runs).
    pub fn find(dir: Option<&Path>) -> Result<Self, SimError> {
        let candidates: Vec<PathBuf> = match dir {
            Some(dir) => vec![dir.to_path_buf()],
            None => {
                let exe = std::env::current_exe()
                    .map_err(|e| SimError::Io { what: "finding this executable".into(), source: e })?;
                exe.ancestors().skip(1).take(2).map(Path::to_path_buf).collect()
            }
        };
        for dir in &candidates {
            let (node, coordinator) = (dir.join("linli-node"), dir.join("linli-coordinator"));
            if node.is_file() && coordinator.is_file() {
                return Ok(Self { node, coordinator, client_certs: None });
            }
        }
        let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        Err(SimError::Run {
            reason: format!(
                "linli-node and linli-coordinator are not in {}: build them (cargo build --release) or give --bin-dir",
                looked.join(" or ")
            ),
        })
    }
}

pub struct NodeProcess {
    node: String,
    child: Child,
    log: PathBuf,
    registry: RegistryClient<Channel>,
    query: QueryClient<Channel>,
    registries: Registries,
}

/// Ports handed out by [`free_addr`] in this process: never twice.
static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());
/// Tries at most this many ports for one address.
const PORT_TRIES_MAX: usize = 64;

/// A free loopback address for a process to listen on, never one handed out before.
/// The port is released before the process binds it: another listener of this machine
/// may take it meanwhile, which [`NodeProcess::spawn`] finds out (the node that answers
/// there is not the one started) and says.
pub fn free_addr() -> Result<SocketAddr, SimError> {
    let io = |e| SimError::Io { what: "finding a free port".into(), source: e };
    for _ in 0..PORT_TRIES_MAX {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").map_err(io)?.local_addr().map_err(io)?;
        if HANDED_OUT.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(addr.port()) {
            return Ok(addr);
        }
    }
    Err(SimError::Run { reason: format!("no new loopback port in {PORT_TRIES_MAX} tries") })
}

impl NodeProcess {
    /// Starts the node of `config` (its `listen` a fixed address) and waits until it
    /// answers.
    pub async fn spawn(bins: &Binaries, config: &ServerConfig, registries: Registries) -> Result<Self, SimError> {
        let node = config.id.clone();
        let mut command = match config.tier {
            Tier::Community => {
                let mut c = Command::new(&bins.node);
                c.arg("serve");
                c
            }
            tier => {
                let mut c = Command::new(&bins.coordinator);
                c.args(["--tier", tier.as_str()]);
                c
            }
        };
        command.arg("--id").arg(&node).arg("--listen").arg(config.listen.to_string());
        command.arg("--data-dir").arg(&config.data_dir);
        if let Some(parent) = &config.parent {
            command.arg("--parent").arg(parent);
        }
        if !config.children.is_empty() {
            command.arg("--children").arg(config.children.join(","));
        }
        if let Some(console) = config.console_listen {
            command.arg("--console-listen").arg(console.to_string());
        }
        if let Some(metrics) = config.metrics_listen {
            command.arg("--metrics-listen").arg(metrics.to_string());
        }
        if !config.forget.is_empty() {
            command.arg("--forget").arg(config.forget.join(","));
        }
        // Only this node's settings: a LINLI_* variable of the caller's would be refused
        // as unknown or, worse, taken.
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("LINLI_")) {
            command.env_remove(name);
        }
        let link = &config.link;
        for (name, value) in [
            ("LINLI_LINK_BATCH_BYTES_MAX", link.batch_bytes_max as u64),
            ("LINLI_LINK_BATCH_ENTRIES_MAX", link.batch_entries_max as u64),
            ("LINLI_LINK_WINDOW_BATCHES_MAX", link.window_batches_max as u64),
            ("LINLI_LINK_BACKOFF_MS_MIN", link.backoff_ms_min),
            ("LINLI_LINK_BACKOFF_MS_MAX", link.backoff_ms_max),
            ("LINLI_LINK_KEEPALIVE_MS", link.keepalive_ms),
            ("LINLI_LINK_HELLO_TIMEOUT_MS", link.hello_timeout_ms),
            ("LINLI_LINK_CLOCK_SKEW_MS_MAX", link.clock_skew_ms_max),
        ] {
            command.env(name, value.to_string());
        }
        let (memory, mib) = (&config.memory, |bytes: usize| (bytes >> 20) as u64);
        for (name, value) in [
            ("LINLI_MEMORY_DOC_CACHE_MIB_MAX", mib(memory.doc_cache_bytes_max)),
            ("LINLI_MEMORY_WRITE_BUFFERS_MIB_MAX", mib(memory.store.memtable_bytes_max)),
            ("LINLI_MEMORY_BLOCK_CACHE_MIB", mib(memory.store.block_cache_bytes)),
            ("LINLI_MEMORY_LOG_CACHE_MIB", mib(memory.log_cache_bytes_max)),
        ] {
            command.env(name, value.to_string());
        }
        match &config.transport {
            Transport::Plaintext => {
                command.env("LINLI_INSECURE", "true");
            }
            Transport::MutualTls { files, parent_id } => {
                command
                    .env("LINLI_TLS_CA", &files.ca)
                    .env("LINLI_TLS_CERT", &files.cert)
                    .env("LINLI_TLS_KEY", &files.key);
                if let Some(id) = parent_id {
                    command.env("LINLI_TLS_PARENT_ID", id);
                }
            }
        }
        command.env("LINLI_LOG", "warn,linli_node=error");
        let log = config.data_dir.with_extension("log");
        let io = |what: String| move |e| SimError::Io { what, source: e };
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(format!("opening {}", log.display())))?;
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file).kill_on_drop(true);
        let mut child = command.spawn().map_err(io(format!("starting {node}")))?;

        let bad_address =
            |e: tonic::transport::Error| SimError::Run { reason: format!("{node}: address {}: {e}", config.listen) };
        let endpoint = match &bins.client_certs {
            None => Endpoint::from_shared(format!("http://{}", config.listen)).map_err(bad_address)?,
            Some(certs) => Endpoint::from_shared(format!("https://{}", config.listen))
                .map_err(bad_address)?
                .tls_config(certs.pem(&node, config.tier)?.client(&node))
                .map_err(bad_address)?,
        }
        .timeout(CALL_TIMEOUT);
        let started = Instant::now();
        let channel = loop {
            if let Ok(channel) = endpoint.connect().await {
                let mut query = QueryClient::new(channel.clone());
                if let Ok(reply) = query.links(v1::LinksRequest {}).await {
                    let answering = reply.into_inner().node;
                    if answering == node {
                        break channel;
                    }
                    let _ = child.kill().await;
                    return Err(exited(&node, &log, &format!("found {answering} on its port {}", config.listen)));
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(exited(&node, &log, &status.to_string()));
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill().await;
                return Err(exited(&node, &log, &format!("no answer within {} s", START_TIMEOUT.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Self {
            node,
            child,
            log,
            registry: RegistryClient::new(channel.clone()),
            query: QueryClient::new(channel),
            registries,
        })
    }

    fn refused(&self, status: tonic::Status) -> SimError {
        SimError::Node { node: self.node.clone(), source: Box::new(NodeError::Status(status)) }
    }

    pub async fn write(&self, write: &Write) -> Result<Written, SimError> {
        let reply = self.registry.clone().write(v1::WriteRequest::from(write)).await.map_err(|s| self.refused(s))?;
        Written::try_from(reply.into_inner()).map_err(|e| self.bad_reply(e))
    }

    pub async fn get(&self, key: &RecordKey) -> Result<Option<Record>, SimError> {
        let request = v1::GetRequest { record_key: key.to_string() };
        let reply = self.registry.clone().get(request).await.map_err(|s| self.refused(s))?.into_inner();
        reply
            .record_json
            .map(|json| record_from_json(&self.registries, &json).map_err(|e| self.bad_reply(e)))
            .transpose()
    }

    pub async fn split(&self, rule: &SplitRule) -> Result<SplitReport, SimError> {
        let reply = self.registry.clone().split(v1::SplitRequest::from(rule)).await.map_err(|s| self.refused(s))?;
        SplitReport::try_from(reply.into_inner()).map_err(|e| self.bad_reply(e))
    }

    /// This node's log end and its links, by peer.
    pub async fn links(&self) -> Result<(u64, BTreeMap<String, LinkStatus>), SimError> {
        let reply = self.query.clone().links(v1::LinksRequest {}).await.map_err(|s| self.refused(s))?.into_inner();
        let links = reply
            .links
            .into_iter()
            .map(|row| {
                let status = LinkStatus {
                    connected: row.connected,
                    last_contact_ms: row.last_contact_ms,
                    sessions: row.sessions,
                    acked_through: row.acked_through,
                    peer_log_end: row.peer_log_end,
                    applied_through: row.applied_through,
                    durable_above: row.durable_above,
                    refused_here: row.refused_here,
                    refused_there: row.refused_there,
                    // As far as the node's answer lets it be rebuilt: `lag_ms` reads back
                    // what the node computed.
                    caught_up_ms: linli_node::link::status::now_ms().saturating_sub(row.lag_ms),
                    ..LinkStatus::default()
                };
                (row.peer, status)
            })
            .collect();
        Ok((reply.log_end, links))
    }

    fn bad_reply(&self, e: linli_proto::ProtoError) -> SimError {
        SimError::Run { reason: format!("{} answered what does not parse: {e}", self.node) }
    }

    /// The process id, while it runs: what a bench pins to a core and reads the CPU
    /// time of.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resident memory of the process, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        self.child.id().map_or(0, |pid| linli_node::metrics::resident_bytes_of(&format!("/proc/{pid}/status")))
    }

    /// SIGKILL: the process ends at once, whatever it was doing.
    pub async fn kill(mut self) -> Result<(), SimError> {
        self.exited_by_itself()?;
        self.child.kill().await.map_err(|e| SimError::Io { what: format!("killing {}", self.node), source: e })
    }

    /// SIGTERM, then waits for the graceful shutdown; an error if it fails or hangs.
    pub async fn terminate(mut self) -> Result<(), SimError> {
        self.exited_by_itself()?;
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid this process spawned and has not reaped (the
            // child is still ours: `try_wait` above found it running).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(exited(&self.node, &self.log, &format!("stopped with {status}"))),
            Ok(Err(e)) => Err(SimError::Io { what: format!("waiting for {}", self.node), source: e }),
            Err(_) => {
                let _ = self.child.kill().await;
                Err(exited(&self.node, &self.log, &format!("did not stop within {} s", STOP_TIMEOUT.as_secs())))
            }
        }
    }

    fn exited_by_itself(&mut self) -> Result<(), SimError> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(exited(&self.node, &self.log, &format!("exited by itself ({status})"))),
            Ok(None) => Ok(()),
            Err(e) => Err(SimError::Io { what: format!("checking on {}", self.node), source: e }),
        }
    }
}

fn exited(node: &str, log: &Path, what: &str) -> SimError {
    SimError::Run { reason: format!("node {node} (a process) {what}; its log: {}", log.display()) }
}
