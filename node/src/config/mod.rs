//! Server configuration, the same for every tier (community, street, district, city).
//!
//! Each setting is taken from, in increasing precedence:
//! 1. the TOML file (`--config`), keys flat at the top and link settings under `[link]`;
//!    relative `data_dir` and `registries_dir` there are resolved against the file's directory;
//! 2. `LINLI_*` environment variables: the key in upper case, `LINLI_LINK_*` for `[link]`
//!    (`LINLI_PARENT`, `LINLI_CHILDREN`, `LINLI_REGISTRIES_DIR`, `LINLI_METRICS_LISTEN`: empty = none);
//! 3. command-line flags ([`Overrides`]).
//!
//! The result is validated once, at start, and every error names the key and where its value
//! came from (`file <path>`, `env LINLI_X`, `flag --x`, or `default`).
//!
//! Unknown keys are refused, in the file and among `LINLI_*` variables alike: a misspelt
//! `keepalive_msec` or `LINLI_PARNET` silently ignored would leave a node running on a default
//! nobody chose, in a tree of nodes where that shows up as a link that never forms. The
//! `LINLI_*` variables other parts of linli read (`LINLI_LOG`, `LINLI_CONFIG`, `LINLI_CRASH_*`,
//! `LINLI_TEST_*`, `LINLI_SIM_*`) are ignored here.

use linli_core::ids::NodeId;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use linli_core::link::{Tier, UnknownTier};

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// This node's id (a community, street, district or city), e.g. "lg-pingdi-pingdi".
    pub id: String,
    pub tier: Tier,
    /// gRPC listen address, e.g. 127.0.0.1:7401 (port 0 allowed: pick any).
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The parent's gRPC address as a URL "http://host:port"; None only for the root
    /// of the tree (a district or a city).
    pub parent: Option<String>,
    /// Ids of the children this node accepts links from (communities for a street,
    /// streets for a district, districts for a city; empty for a community).
    pub children: Vec<String>,
    /// Registry schemas directory; None = the shipped defaults.
    pub registries_dir: Option<PathBuf>,
    /// Prometheus metrics HTTP listen address; None = no metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Where `Registry.Backup` writes its checkpoints; None = backups refused.
    pub backup_dir: Option<PathBuf>,
    /// The operators' web console's HTTPS listen address; None = no console. Needs
    /// `[tls]`: the console serves with the node's certificate and signs operators in
    /// with tickets their certificates' keys signed (see `crate::console`).
    pub console_listen: Option<SocketAddr>,
    pub link: LinkLimits,
    /// What the node may hold in memory (`[memory]`, see [`memory`]).
    pub memory: MemoryLimits,
    /// Children that left this node for good: their documents, checkpoint and subtree
    /// are forgotten at this start. Only from the `--forget` flag, never from a file or
    /// the environment: leaving a child out of `children` alone refuses the start, so a
    /// typo in a list cannot cost a community's data.
    pub forget: Vec<String>,
    /// The clock the engine stamps steps with: the machine's. Never from a file, the
    /// environment or a flag; the simulator's real mode moves it to show a server
    /// whose clock runs off.
    pub clock: crate::engine::WallClock,
    /// Mutual TLS, or plaintext where the config says `insecure = true`.
    pub transport: Transport,
    /// At a district, the communities each listed street may announce below it (at a
    /// city, the streets and communities of each district; `[subtrees]`, from the file
    /// only; see [`subtrees`]). Empty: every child is taken at what it announces,
    /// unless another child holds it.
    pub subtrees: BTreeMap<String, BTreeSet<String>>,
}

pub mod memory;
mod numbers;
mod subtrees;
pub mod transport;
pub use memory::MemoryLimits;
pub use transport::Transport;

/// The `[link]` section: the link's bounds, defined (with their defaults and what
/// happens when each is hit) in core, where the session enforces them.
pub use linli_core::link::LinkLimits;

/// Values given as flags; None = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub id: Option<String>,
    pub tier: Option<Tier>,
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub parent: Option<String>,
    /// From a comma-separated flag.
    pub children: Option<Vec<String>>,
    pub registries_dir: Option<PathBuf>,
    pub metrics_listen: Option<String>,
    pub backup_dir: Option<PathBuf>,
    pub console_listen: Option<String>,
    /// From a comma-separated `--forget` flag.
    pub forget: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A TOML syntax or type error; toml's message carries the line and column.
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    /// `source_name` is e.g. "file linli.toml" or "env LINLI_FOO".
    #[error("unknown setting `{key}` ({source_name}): refused so that a typo is not silently ignored")]
    UnknownKey { source_name: String, key: String },
    #[error("invalid `{key}` ({source_name}): {problem}")]
    Invalid { key: String, source_name: String, problem: String },
    #[error("missing `{key}`: {reason}; set it in the config file, as {} or with {}", env_name(.key), flag_name(.key))]
    Missing { key: String, reason: String },
    /// Neither TLS nor an explicit plaintext: `missing` names the first TLS key absent.
    #[error(
        "missing `{missing}`: links and calls are mutual TLS; set tls.ca, tls.cert and tls.key in the config file \
         or as LINLI_TLS_CA, LINLI_TLS_CERT, LINLI_TLS_KEY (`linlictl certs` makes them), or insecure = true \
         (LINLI_INSECURE=true) for plaintext"
    )]
    NoTransport { missing: String },
}

/// Top-level keys of the file; `link` is the `[link]` table, `memory` `[memory]`.
const KEYS: [&str; 15] = [
    "id",
    "tier",
    "listen",
    "data_dir",
    "parent",
    "children",
    "registries_dir",
    "metrics_listen",
    "backup_dir",
    "console_listen",
    "link",
    "memory",
    "insecure",
    "tls",
    "subtrees",
];
/// `[link]` keys, in the order of [`LinkLimits`]'s fields.
const LINK_KEYS: [&str; 11] = [
    "batch_bytes_max",
    "batch_entries_max",
    "window_batches_max",
    "backoff_ms_min",
    "backoff_ms_max",
    "keepalive_ms",
    "skipped_flush_ms",
    "hello_timeout_ms",
    "clock_skew_ms_max",
    "log_retained_entries_max",
    "log_trim_entries_min",
];
/// The `[link]` table: its keys and the inclusive bounds of their values.
const LINK: numbers::NumberTable = numbers::NumberTable { name: "link", keys: &LINK_KEYS, bounds: &LINK_BOUNDS };
/// Inclusive bounds of the `[link]` values, same order.
const LINK_BOUNDS: [(u64, u64); LINK_KEYS.len()] = [
    (1024, 16 << 20),
    (1, linli_core::link::limits::BATCH_ENTRIES_BOUND as u64),
    (1, 64),
    (1, u64::MAX),
    (1, u64::MAX),
    (100, u64::MAX),
    (1, 60_000),
    (100, 600_000),
    (1_000, 86_400_000),
    (1_000, u64::MAX),
    (1, 1 << 20),
];
const ENV_IGNORED: [&str; 3] = ["LINLI_LOG", "LINLI_LOG_FORMAT", "LINLI_CONFIG"];
const ENV_IGNORED_PREFIXES: [&str; 3] = ["LINLI_CRASH_", "LINLI_TEST_", "LINLI_SIM_"];

/// "link.keepalive_ms" -> "LINLI_LINK_KEEPALIVE_MS".
fn env_name(key: &str) -> String {
    format!("LINLI_{}", key.replace('.', "_").to_ascii_uppercase())
}

fn flag_name(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

fn invalid(key: &str, source: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_string(), source_name: source.to_string(), problem: problem.into() }
}

fn missing(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Missing { key: key.to_string(), reason: reason.into() }
}

/// The file as written; keys are checked against [`KEYS`] and [`LINK_KEYS`] before this.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    id: Option<String>,
    tier: Option<Tier>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    parent: Option<String>,
    children: Option<Vec<String>>,
    registries_dir: Option<PathBuf>,
    metrics_listen: Option<String>,
    backup_dir: Option<PathBuf>,
    console_listen: Option<String>,
    #[serde(default)]
    link: BTreeMap<String, u64>,
    #[serde(default)]
    memory: BTreeMap<String, u64>,
    insecure: Option<bool>,
    tls: Option<transport::TlsTable>,
    subtrees: Option<subtrees::SubtreesTable>,
}

/// A value and where it came from.
struct Sourced<T> {
    value: T,
    source: String,
}

/// The settings gathered so far, each from the last source that gave it.
#[derive(Default)]
struct Layers {
    id: Option<Sourced<String>>,
    tier: Option<Sourced<Tier>>,
    listen: Option<Sourced<String>>,
    data_dir: Option<Sourced<PathBuf>>,
    /// Empty = explicitly none (same for `registries_dir` and `metrics_listen`).
    parent: Option<Sourced<String>>,
    children: Option<Sourced<Vec<String>>>,
    registries_dir: Option<Sourced<PathBuf>>,
    metrics_listen: Option<Sourced<String>>,
    backup_dir: Option<Sourced<PathBuf>>,
    console_listen: Option<Sourced<String>>,
    link: [numbers::Slot; LINK_KEYS.len()],
    memory: [numbers::Slot; memory::KEYS.len()],
    transport: transport::TransportLayers,
    subtrees: Option<Sourced<subtrees::SubtreesTable>>,
}

fn put<T>(slot: &mut Option<Sourced<T>>, value: Option<T>, source: &str) {
    if let Some(value) = value {
        *slot = Some(Sourced { value, source: source.to_string() });
    }
}

impl ServerConfig {
    /// Reads `file` (if given), then the environment (`env`: pairs such as the ones from
    /// std::env::vars(); only keys starting with LINLI_ are looked at), then `flags`;
    /// validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers::default();
        if let Some(path) = file {
            layers.read_file(path)?;
        }
        // Sorted, so that of several bad variables it is always the same one reported.
        let env: BTreeMap<String, String> = env.into_iter().filter(|(k, _)| k.starts_with("LINLI_")).collect();
        for (name, value) in &env {
            layers.read_env(name, value)?;
        }
        layers.read_flags(flags);
        let mut config = layers.build()?;
        for child in &flags.forget {
            let bad = |problem: String| invalid("forget", "flag --forget", problem);
            linli_core::ids::NodeId::new(child).map_err(|e| bad(e.to_string()))?;
            if config.children.contains(child) {
                return Err(bad(format!("'{child}' is still among the children: forget only one that moved away")));
            }
        }
        config.forget = flags.forget.clone();
        Ok(config)
    }
}

impl Layers {
    fn read_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let parse_error = |e: toml::de::Error| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() };
        let src = format!("file {}", path.display());
        let unknown = |key: String| ConfigError::UnknownKey { source_name: src.clone(), key };
        let table: toml::Table = toml::from_str(&text).map_err(parse_error)?;
        for (key, value) in &table {
            if !KEYS.contains(&key.as_str()) {
                return Err(unknown(key.clone()));
            }
            for numbers in [&LINK, &memory::TABLE] {
                if let Some(table) = value.as_table().filter(|_| key == numbers.name)
                    && let Some(key) = numbers.unknown_key(table)
                {
                    return Err(unknown(key));
                }
            }
            if let Some(tls) = value.as_table().filter(|_| key == "tls")
                && let Some(k) = tls.keys().find(|k| !transport::TLS_KEYS.contains(&k.as_str()))
            {
                return Err(unknown(format!("tls.{k}")));
            }
        }
        let f: FileConfig = toml::from_str(&text).map_err(parse_error)?;
        let base = path.parent().unwrap_or(Path::new(""));
        put(&mut self.id, f.id, &src);
        put(&mut self.tier, f.tier, &src);
        put(&mut self.listen, f.listen, &src);
        put(&mut self.data_dir, f.data_dir.map(|d| base.join(d)), &src);
        put(&mut self.parent, f.parent, &src);
        put(&mut self.children, f.children, &src);
        let registries_dir = f.registries_dir.map(|d| if d.as_os_str().is_empty() { d } else { base.join(d) });
        put(&mut self.registries_dir, registries_dir, &src);
        put(&mut self.metrics_listen, f.metrics_listen, &src);
        put(&mut self.console_listen, f.console_listen, &src);
        let backup_dir = f.backup_dir.map(|d| if d.as_os_str().is_empty() { d } else { base.join(d) });
        put(&mut self.backup_dir, backup_dir, &src);
        LINK.read_file(&mut self.link, &f.link, &src);
        memory::TABLE.read_file(&mut self.memory, &f.memory, &src);
        self.transport.read_file(f.insecure, f.tls, base, &src);
        put(&mut self.subtrees, f.subtrees, &src);
        Ok(())
    }

    fn read_env(&mut self, name: &str, text: &str) -> Result<(), ConfigError> {
        if ENV_IGNORED.contains(&name) || ENV_IGNORED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            return Ok(());
        }
        let src = format!("env {name}");
        let some = |v: &str| Some(v.to_string());
        match name {
            "LINLI_ID" => put(&mut self.id, some(text), &src),
            "LINLI_TIER" => {
                let tier = text.parse().map_err(|e: UnknownTier| invalid("tier", &src, e.to_string()))?;
                put(&mut self.tier, Some(tier), &src);
            }
            "LINLI_LISTEN" => put(&mut self.listen, some(text), &src),
            "LINLI_DATA_DIR" => put(&mut self.data_dir, Some(PathBuf::from(text)), &src),
            "LINLI_PARENT" => put(&mut self.parent, some(text), &src),
            "LINLI_CHILDREN" => {
                let children = text.split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect();
                put(&mut self.children, Some(children), &src);
            }
            "LINLI_REGISTRIES_DIR" => put(&mut self.registries_dir, Some(PathBuf::from(text)), &src),
            "LINLI_METRICS_LISTEN" => put(&mut self.metrics_listen, some(text), &src),
            "LINLI_CONSOLE_LISTEN" => put(&mut self.console_listen, some(text), &src),
            "LINLI_BACKUP_DIR" => put(&mut self.backup_dir, Some(PathBuf::from(text)), &src),
            _ if self.transport.read_env(name, text)? => {}
            _ if LINK.read_env(&mut self.link, name, text)? => {}
            _ if memory::TABLE.read_env(&mut self.memory, name, text)? => {}
            _ => return Err(ConfigError::UnknownKey { source_name: src, key: name.to_string() }),
        }
        Ok(())
    }

    fn read_flags(&mut self, o: &Overrides) {
        put(&mut self.id, o.id.clone(), "flag --id");
        put(&mut self.tier, o.tier, "flag --tier");
        put(&mut self.listen, o.listen.clone(), "flag --listen");
        put(&mut self.data_dir, o.data_dir.clone(), "flag --data-dir");
        put(&mut self.parent, o.parent.clone(), "flag --parent");
        put(&mut self.children, o.children.clone(), "flag --children");
        put(&mut self.registries_dir, o.registries_dir.clone(), "flag --registries-dir");
        put(&mut self.metrics_listen, o.metrics_listen.clone(), "flag --metrics-listen");
        put(&mut self.console_listen, o.console_listen.clone(), "flag --console-listen");
        put(&mut self.backup_dir, o.backup_dir.clone(), "flag --backup-dir");
    }

    fn build(self) -> Result<ServerConfig, ConfigError> {
        let id = self.id.ok_or_else(|| missing("id", "every node needs an id"))?;
        NodeId::new(&id.value).map_err(|e| invalid("id", &id.source, e.to_string()))?;
        let id = id.value;
        let tier = self.tier.ok_or_else(|| missing("tier", "community, street, district or city"))?.value;
        let listen = self.listen.ok_or_else(|| missing("listen", "the gRPC listen address"))?;
        let listen = socket_addr("listen", &listen)?;
        let data_dir = self.data_dir.ok_or_else(|| missing("data_dir", "every node stores its replica"))?;
        if data_dir.value.as_os_str().is_empty() {
            return Err(invalid("data_dir", &data_dir.source, "empty path"));
        }
        let data_dir = data_dir.value;

        let transport = self.transport.build(self.parent.as_ref())?;
        // The root is the node without a parent: a district's tree has its district at
        // the top, a city's its city; a community and a street always link up, and the
        // highest tier there is has nothing to link to.
        let may_be_root = tier >= Tier::LOWEST_ROOT;
        let parent = match (self.parent, tier.above()) {
            (Some(p), None) if !p.value.is_empty() => {
                let problem =
                    format!("a {tier} is the highest tier a tree may have: it has no parent, got '{}'", p.value);
                return Err(invalid("parent", &p.source, problem));
            }
            (None, _) if may_be_root => None,
            (Some(p), _) if may_be_root && p.value.is_empty() => None,
            (None, _) => return Err(missing("parent", format!("a {tier} links up to its parent"))),
            (Some(p), _) if p.value.is_empty() => {
                return Err(invalid("parent", &p.source, format!("empty, but a {tier} links up to its parent")));
            }
            (Some(p), _) => Some(parent_url(&p).map_err(|problem| invalid("parent", &p.source, problem))?),
        };

        let children = match (tier.is_leaf(), self.children) {
            (true, Some(c)) if !c.value.is_empty() => {
                return Err(invalid("children", &c.source, format!("a {tier} has no children, got {:?}", c.value)));
            }
            (true, _) => Vec::new(),
            (_, None) => return Err(missing("children", format!("a {tier} needs at least one child"))),
            (_, Some(c)) => {
                let bad = |problem: String| invalid("children", &c.source, problem);
                if c.value.is_empty() {
                    return Err(bad(format!("empty, but a {tier} needs at least one child")));
                }
                let mut seen = HashSet::new();
                for child in &c.value {
                    NodeId::new(child).map_err(|e| bad(e.to_string()))?;
                    if !seen.insert(child) {
                        return Err(bad(format!("duplicate child '{child}'")));
                    }
                    if *child == id {
                        return Err(bad(format!("contains this node's own id '{child}'")));
                    }
                }
                c.value
            }
        };

        let subtrees = subtrees::build(tier, &id, &children, self.subtrees)?;
        let registries_dir = self.registries_dir.map(|d| d.value).filter(|d| !d.as_os_str().is_empty());
        let backup_dir = self.backup_dir.map(|d| d.value).filter(|d| !d.as_os_str().is_empty());
        let metrics_listen = match self.metrics_listen.filter(|m| !m.value.is_empty()) {
            Some(m) => Some(socket_addr("metrics_listen", &m)?),
            None => None,
        };
        let console_listen = match self.console_listen.filter(|m| !m.value.is_empty()) {
            Some(m) if matches!(transport, Transport::Plaintext) => {
                let problem = "the console serves HTTPS with the node's certificate and signs operators in against \
                               the CA: it needs [tls] (this config says insecure = true)";
                return Err(invalid("console_listen", &m.source, problem.to_string()));
            }
            Some(m) => Some(socket_addr("console_listen", &m)?),
            None => None,
        };

        let d = LinkLimits::default();
        let sizes = [d.batch_bytes_max as u64, d.batch_entries_max as u64, d.window_batches_max as u64];
        let defaults = [
            sizes[0],
            sizes[1],
            sizes[2],
            d.backoff_ms_min,
            d.backoff_ms_max,
            d.keepalive_ms,
            d.skipped_flush_ms,
            d.hello_timeout_ms,
            d.clock_skew_ms_max,
            d.log_retained_entries_max,
            d.log_trim_entries_min,
        ];
        let (v, sources) = LINK.build(&self.link, &defaults)?;
        if v[4] < v[3] {
            let problem = format!("{} is less than link.backoff_ms_min = {} ({})", v[4], v[3], sources[3]);
            return Err(invalid("link.backoff_ms_max", &sources[4], problem));
        }
        // The bounds above keep the usize ones within 16 MiB.
        let link = LinkLimits {
            batch_bytes_max: v[0] as usize,
            batch_entries_max: v[1] as usize,
            window_batches_max: v[2] as usize,
            backoff_ms_min: v[3],
            backoff_ms_max: v[4],
            keepalive_ms: v[5],
            skipped_flush_ms: v[6],
            hello_timeout_ms: v[7],
            clock_skew_ms_max: v[8],
            log_retained_entries_max: v[9],
            log_trim_entries_min: v[10],
        };
        let memory = memory::build(&self.memory)?;
        Ok(ServerConfig {
            id,
            tier,
            listen,
            data_dir,
            parent,
            children,
            registries_dir,
            metrics_listen,
            backup_dir,
            console_listen,
            link,
            memory,
            forget: Vec::new(),
            clock: Default::default(),
            transport,
            subtrees,
        })
    }
}

fn socket_addr(key: &str, s: &Sourced<String>) -> Result<SocketAddr, ConfigError> {
    s.value.trim().parse().map_err(|_| invalid(key, &s.source, format!("not a socket address: '{}'", s.value)))
}

/// Checks "http(s)://host:port" (an optional trailing '/'), returns it without the slash.
fn parent_url(p: &Sourced<String>) -> Result<String, String> {
    let url = p.value.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("not an http:// or https:// URL: '{}'", p.value))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("no port in '{}'", p.value))?;
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(format!("no valid host in '{}' (expected http://host:port)", p.value));
    }
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(url.to_string()),
        _ => Err(format!("no valid port in '{}' (expected http://host:port)", p.value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREET: &str = r#"
id = "lg-pingdi"
tier = "street"
listen = "127.0.0.1:7410"
data_dir = "data/lg-pingdi"
parent = "http://127.0.0.1:7400"
children = ["lg-pingdi-pingdi"]
insecure = true
[link]
keepalive_ms = 5000
"#;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("linli.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(text: &str, vars: &[(&str, &str)], flags: &Overrides) -> Result<ServerConfig, ConfigError> {
        let (_dir, path) = file(text);
        ServerConfig::load(Some(&path), env(vars), flags)
    }

    /// Loads `text` and `vars` expecting an error whose text contains each of `parts`.
    fn refused(text: &str, vars: &[(&str, &str)], parts: &[&str]) {
        let error = load(text, vars, &Overrides::default()).unwrap_err().to_string();
        for part in parts {
            assert!(error.contains(part), "{error:?} should mention {part:?}");
        }
    }

    #[test]
    fn forget_takes_only_children_that_left() {
        let flags = |forget: &[&str]| Overrides {
            forget: forget.iter().map(|s| s.to_string()).collect(),
            ..Overrides::default()
        };
        let c = load(STREET, &[], &flags(&["lg-pingdi-fuping"])).unwrap();
        assert_eq!(c.forget, ["lg-pingdi-fuping"]);
        let kept = load(STREET, &[], &flags(&["lg-pingdi-pingdi"])).unwrap_err().to_string();
        assert!(kept.contains("`forget`") && kept.contains("still among the children"), "{kept}");
        let bad = load(STREET, &[], &flags(&["no such/child"])).unwrap_err().to_string();
        assert!(bad.contains("flag --forget"), "{bad}");
    }

    #[test]
    fn a_console_needs_tls_and_the_refusal_names_the_key_and_its_source() {
        let vars = [("LINLI_CONSOLE_LISTEN", "127.0.0.1:7443")];
        let err = load(STREET, &vars, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("`console_listen`") && err.contains("LINLI_CONSOLE_LISTEN"), "{err}");
        assert!(err.contains("needs [tls]"), "{err}");
        assert_eq!(load(STREET, &[], &Overrides::default()).unwrap().console_listen, None);
    }

    #[test]
    fn file_values_load() {
        let (dir, path) = file(STREET);
        let c = ServerConfig::load(Some(&path), env(&[("PATH", "/bin")]), &Overrides::default()).unwrap();
        assert_eq!((c.id.as_str(), c.tier), ("lg-pingdi", Tier::Street));
        assert_eq!(c.listen, "127.0.0.1:7410".parse().unwrap());
        assert_eq!(c.parent.as_deref(), Some("http://127.0.0.1:7400"));
        assert_eq!(c.children, ["lg-pingdi-pingdi"]);
        assert_eq!((c.registries_dir, c.metrics_listen), (None, None));
        assert_eq!(c.link, LinkLimits { keepalive_ms: 5000, ..LinkLimits::default() });
        assert_eq!(c.data_dir, dir.path().join("data/lg-pingdi"));
    }

    #[test]
    fn relative_paths_resolve_against_the_file_directory() {
        let (dir, path) = file(&format!("registries_dir = 'reg'\n{STREET}"));
        let c = ServerConfig::load(Some(&path), env(&[]), &Overrides::default()).unwrap();
        assert_eq!((c.data_dir, c.registries_dir), (dir.path().join("data/lg-pingdi"), Some(dir.path().join("reg"))));
        // Absolute ones stay; env and flag values are the caller's, relative to the working directory.
        let absolute = dir.path().join("abs").display().to_string();
        let c = load(&STREET.replace("data/lg-pingdi", &absolute), &[], &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from(absolute));
        let flags = Overrides { registries_dir: Some("r".into()), ..Overrides::default() };
        assert_eq!(load(STREET, &[], &flags).unwrap().registries_dir, Some(PathBuf::from("r")));
        let (dir, path) = file(&format!("backup_dir = 'backups'\n{STREET}"));
        let c = ServerConfig::load(Some(&path), Vec::new(), &Overrides::default()).unwrap();
        assert_eq!(c.backup_dir, Some(dir.path().join("backups")));
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let vars = [
            ("LINLI_LISTEN", "0.0.0.0:7500"),
            ("LINLI_CHILDREN", "a, b"),
            ("LINLI_DATA_DIR", "rel"),
            ("LINLI_METRICS_LISTEN", "127.0.0.1:9410"),
            ("LINLI_LINK_WINDOW_BATCHES_MAX", "8"),
        ];
        let c = load(STREET, &vars, &Overrides::default()).unwrap();
        assert_eq!(c.listen, "0.0.0.0:7500".parse().unwrap());
        assert_eq!(c.children, ["a", "b"]);
        assert_eq!(c.data_dir, PathBuf::from("rel"));
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9410".parse().unwrap()));
        assert_eq!((c.link.window_batches_max, c.link.keepalive_ms), (8, 5000));

        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            children: Some(vec!["c".into()]),
            metrics_listen: Some(String::new()),
            ..Overrides::default()
        };
        let c = load(STREET, &vars, &flags).unwrap();
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!((c.children, c.metrics_listen), (vec!["c".to_string()], None));
        // A district from env and flags alone, no file.
        let flags = Overrides { tier: Some(Tier::District), ..Overrides::default() };
        let vars =
            [("LINLI_ID", "lg"), ("LINLI_LISTEN", "[::1]:7400"), ("LINLI_DATA_DIR", "d"), ("LINLI_CHILDREN", "s")];
        let vars = [vars.as_slice(), &[("LINLI_INSECURE", "true")]].concat();
        let c = ServerConfig::load(None, env(&vars), &flags).unwrap();
        assert_eq!((c.tier, c.parent), (Tier::District, None));
        // A city the same way, `--tier city`.
        let flags = Overrides { tier: Some(Tier::City), ..Overrides::default() };
        let c = ServerConfig::load(None, env(&vars), &flags).unwrap();
        assert_eq!((c.tier, c.parent), (Tier::City, None));
    }

    #[test]
    fn unknown_keys_refused() {
        let (_dir, path) = file(&format!("{STREET}\nbatch_bytes = 1"));
        let error = ServerConfig::load(Some(&path), env(&[]), &Overrides::default()).unwrap_err();
        assert!(matches!(&error, ConfigError::UnknownKey { key, .. } if key == "link.batch_bytes"), "{error:?}");
        assert!(error.to_string().contains(&format!("file {}", path.display())), "{error}");
        refused(&format!("paren = 'x'\n{STREET}"), &[], &["`paren`", "file "]);
        // Other parts' LINLI_ variables and non-LINLI ones are not ours to refuse; a typo is.
        let ignored = [("LINLI_LOG", "debug"), ("LINLI_CONFIG", "x"), ("LINLI_CRASH_AT", "1"), ("HOME", "/")];
        load(STREET, &ignored, &Overrides::default()).unwrap();
        refused(STREET, &[("LINLI_LOG", "info"), ("LINLI_PARNET", "x")], &["`LINLI_PARNET`", "env LINLI_PARNET"]);
        refused(STREET, &[("LINLI_LINK_KEEPALIVE", "1")], &["`LINLI_LINK_KEEPALIVE`"]);
    }

    #[test]
    fn bad_values_name_key_and_source() {
        refused(STREET, &[("LINLI_LISTEN", "localhost")], &["`listen`", "env LINLI_LISTEN", "'localhost'"]);
        refused(STREET, &[("LINLI_TIER", "town")], &["`tier`", "env LINLI_TIER", "'town'", "city"]);
        refused(STREET, &[("LINLI_ID", "a b")], &["`id`", "env LINLI_ID"]);
        refused(STREET, &[("LINLI_PARENT", "127.0.0.1:7400")], &["`parent`", "env LINLI_PARENT", "http://"]);
        refused(STREET, &[("LINLI_PARENT", "http://h")], &["`parent`", "no port"]);
        refused(&STREET.replace("tier", "# tier"), &[], &["missing `tier`", "LINLI_TIER", "--tier"]);
        let flags = Overrides { listen: Some("x".into()), ..Overrides::default() };
        let error = load(STREET, &[], &flags).unwrap_err().to_string();
        assert!(error.contains("`listen` (flag --listen)"), "{error}");
    }

    #[test]
    fn tree_shape_enforced() {
        let community = STREET.replace("\"street\"", "\"community\"");
        refused(&community, &[], &["`children`", "a community has no children"]);
        load(&community, &[("LINLI_CHILDREN", "")], &Overrides::default()).unwrap();
        refused(&STREET.replace("parent", "# parent"), &[], &["missing `parent`", "a street", "LINLI_PARENT"]);
        refused(STREET, &[("LINLI_PARENT", "")], &["`parent`", "env LINLI_PARENT", "empty"]);
        // A district is the root of its tree, or under a city; a city is a root.
        let district = STREET.replace("\"street\"", "\"district\"");
        assert_eq!(
            load(&district, &[], &Overrides::default()).unwrap().parent.as_deref(),
            Some("http://127.0.0.1:7400")
        );
        assert_eq!(load(&district, &[("LINLI_PARENT", "")], &Overrides::default()).unwrap().parent, None);
        let city = STREET.replace("\"street\"", "\"city\"").replace("parent", "# parent");
        assert_eq!(load(&city, &[], &Overrides::default()).unwrap().tier, Tier::City);
        let top = Tier::at_height(linli_core::link::TIERS_MAX - 1).expect("the highest tier");
        let highest = STREET.replace("\"street\"", &format!("\"{top}\""));
        refused(&highest, &[], &["`parent`", "file ", "the highest tier a tree may have"]);
        refused(STREET, &[("LINLI_CHILDREN", "")], &["`children`", "env LINLI_CHILDREN", "at least one child"]);
        refused(STREET, &[("LINLI_CHILDREN", "a,b,a")], &["`children`", "env LINLI_CHILDREN", "duplicate child 'a'"]);
        refused(STREET, &[("LINLI_CHILDREN", "a,lg-pingdi")], &["`children`", "own id"]);
    }

    #[test]
    fn link_bounds_enforced() {
        let bytes = "LINLI_LINK_BATCH_BYTES_MAX";
        refused(STREET, &[(bytes, "1000")], &["`link.batch_bytes_max`", "env LINLI_LINK_BATCH_BYTES_MAX", "1024..="]);
        refused(STREET, &[("LINLI_LINK_BATCH_ENTRIES_MAX", "0")], &["`link.batch_entries_max`"]);
        refused(STREET, &[("LINLI_LINK_WINDOW_BATCHES_MAX", "65")], &["`link.window_batches_max`", "1..=64"]);
        refused(&STREET.replace("5000", "99"), &[], &["`link.keepalive_ms`", "file ", "at least 100"]);
        let min = "LINLI_LINK_BACKOFF_MS_MIN";
        refused(STREET, &[(min, "20000")], &["`link.backoff_ms_max`", "default", "env LINLI_LINK_BACKOFF_MS_MIN"]);
        refused(STREET, &[(min, "-1")], &["`link.backoff_ms_min`", "env LINLI_LINK_BACKOFF_MS_MIN", "not a number"]);
        refused(&STREET.replace("5000", "-5"), &[], &["config file", "keepalive_ms"]);
    }

    #[test]
    fn memory_from_file_and_env_within_bounds() {
        let c = load(STREET, &[], &Overrides::default()).unwrap();
        assert_eq!(c.memory, MemoryLimits::default());
        let text = format!("{STREET}[memory]\ndoc_cache_mib_max = 256\nwrite_buffers_mib_max = 4\n");
        let c = load(&text, &[("LINLI_MEMORY_BLOCK_CACHE_MIB", "32")], &Overrides::default()).unwrap();
        assert_eq!(c.memory.doc_cache_bytes_max, 256 << 20);
        assert_eq!(c.memory.store.memtable_bytes_max, 4 << 20);
        assert_eq!(c.memory.store.block_cache_bytes, 32 << 20);
        let mib = "LINLI_MEMORY_WRITE_BUFFERS_MIB_MAX";
        refused(&text, &[(mib, "0")], &["`memory.write_buffers_mib_max`", "env LINLI_MEMORY_WRITE_BUFFERS_MIB_MAX"]);
        refused(&text.replace("256", "0"), &[], &["`memory.doc_cache_mib_max`", "file ", "1..="]);
        refused(&text.replace("doc_cache_mib_max", "doc_cache_mb"), &[], &["unknown setting `memory.doc_cache_mb`"]);
        refused(STREET, &[("LINLI_MEMORY_DOC_CACHE", "1")], &["unknown setting `LINLI_MEMORY_DOC_CACHE`"]);
        refused(STREET, &[("LINLI_MEMORY_BLOCK_CACHE_MIB", "lots")], &["`memory.block_cache_mib`", "not a number"]);
    }

    #[test]
    fn sample_configs_load_and_form_a_tree() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let [community, street, district] = ["community", "street", "district"].map(|tier| {
            let c = ServerConfig::load(Some(&dir.join(format!("{tier}.toml"))), env(&[]), &Overrides::default());
            let c = c.unwrap_or_else(|e| panic!("config/{tier}.toml: {e}"));
            assert_eq!(c.tier.as_str(), tier);
            assert_eq!(c.tier, tier.parse().unwrap());
            c
        });
        assert_eq!(community.parent, Some(format!("http://{}", street.listen)));
        assert_eq!(street.parent, Some(format!("http://{}", district.listen)));
        let listed = district.subtrees.get(&street.id).cloned().unwrap_or_default();
        assert_eq!(listed, BTreeSet::from([community.id.clone()]), "the district lists the street's community");
        assert_eq!((street.children, district.children), (vec![community.id], vec![street.id]));
    }
}
