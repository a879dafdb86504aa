//! Propagation, over plaintext and over mutual TLS in the same run: a write at a
//! community to readable at the district, over real gRPC links on loopback, while
//! every community writes at a steady rate; and the acknowledgement latency of one
//! writer calling `Registry.Write` at a community. Two trees run side by side, one
//! per transport, and the probes alternate between them, so the machine's noise
//! falls on both alike; the report gives each median and their ratio.
//!
//! `cargo bench -p linli-benches --bench propagation` (env: `LINLI_BENCH_STREETS`,
//! default 2; `LINLI_BENCH_COMMUNITIES`, default 8; `LINLI_BENCH_RATE`, writes per
//! second per community, default 10; `LINLI_BENCH_PROBES`, default 300 per tree). A
//! probe writes one request at a community and polls the district every millisecond
//! until it reads it; the figure includes the community's own synced write.
//!
//! `LINLI_BENCH_TRACES=1` exports every span of every write (all sampled) to an OTLP
//! collector in the process, as a server with an OTLP endpoint does: what tracing
//! costs, against a run without it (`docs/performance.md`).

use linli_benches::request_at as request;
use linli_core::schema::Registries;
use linli_node::config::{LinkLimits, ServerConfig, Tier, Transport};
use linli_node::server::{self, Running};
use linli_proto::v1::registry_client::RegistryClient;
use linli_tls::TlsFiles;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The client this bench calls `Registry.Write` as, over TLS: the staff of the first
/// community, where its writer writes.
const CLIENT: &str = "staff--lg-s0-c0--bench";

/// One tree's transport: plaintext, or mutual TLS with the certificates in a directory.
#[derive(Clone)]
enum Mode {
    Plaintext,
    Tls(std::path::PathBuf),
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Plaintext => "plaintext",
            Mode::Tls(_) => "mutual TLS",
        }
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        match self {
            Mode::Plaintext => format!("http://{addr}"),
            Mode::Tls(_) => format!("https://{addr}"),
        }
    }

    fn transport(&self, id: &str, parent_id: Option<&str>) -> Transport {
        match self {
            Mode::Plaintext => Transport::Plaintext,
            Mode::Tls(dir) => {
                Transport::MutualTls { files: TlsFiles::in_dir(dir, id), parent_id: parent_id.map(String::from) }
            }
        }
    }

    /// A channel to the server `id` at `url`, as [`CLIENT`].
    async fn channel(&self, url: &str, id: &str) -> Channel {
        let endpoint = Endpoint::from_shared(url.to_string()).expect("endpoint");
        let endpoint = match self {
            Mode::Plaintext => endpoint,
            Mode::Tls(dir) => {
                let pem = TlsFiles::in_dir(dir, CLIENT).read().expect("client certificate");
                endpoint.tls_config(pem.client(id)).expect("tls")
            }
        };
        endpoint.connect().await.expect("connect")
    }
}

async fn start(
    mode: &Mode,
    dir: &std::path::Path,
    id: &str,
    tier: Tier,
    parent: Option<(&str, &str)>,
    children: Vec<String>,
) -> (Running, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = ServerConfig {
        id: id.into(),
        tier,
        listen: addr,
        data_dir: dir.join(id),
        parent: parent.map(|(_, url)| url.to_string()),
        children,
        registries_dir: None,
        backup_dir: None,
        metrics_listen: None,
        console_listen: None,
        link: LinkLimits::default(),
        memory: Default::default(),
        forget: Vec::new(),
        subtrees: Default::default(),
        clock: Default::default(),
        transport: mode.transport(id, parent.map(|(parent_id, _)| parent_id)),
    };
    let (started, running) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let registries = Registries::defaults().expect("registries");
        server::run(config, registries, listener, std::future::pending(), Some(started)).await.expect("server");
    });
    (running.await.expect("started"), mode.url(addr))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// A district, `streets` streets and `communities` communities on `mode`, each
/// community writing `rate` requests a second.
struct Tree {
    mode: Mode,
    district: Running,
    /// Each community's id, engine and URL.
    communities: Vec<(String, Running, String)>,
}

async fn tree(mode: Mode, dir: &std::path::Path, streets: usize, communities: usize, rate: usize) -> Tree {
    let street_ids: Vec<String> = (0..streets).map(|s| format!("lg-s{s}")).collect();
    let community_ids: Vec<String> = (0..communities).map(|c| format!("lg-s{}-c{c}", c % streets)).collect();
    let (district, district_url) = start(&mode, dir, "lg", Tier::District, None, street_ids.clone()).await;
    let mut nodes = Vec::new();
    for (s, street) in street_ids.iter().enumerate() {
        let children = community_ids.iter().filter(|c| c.starts_with(&format!("lg-s{s}-"))).cloned().collect();
        let (_, url) = start(&mode, dir, street, Tier::Street, Some(("lg", &district_url)), children).await;
        for community in community_ids.iter().filter(|c| c.starts_with(&format!("lg-s{s}-"))) {
            let up = Some((street.as_str(), url.as_str()));
            let (running, own_url) = start(&mode, dir, community, Tier::Community, up, Vec::new()).await;
            nodes.push((community.clone(), running, own_url));
        }
    }
    // Background load: every community writes `rate` requests a second.
    for (id, running, _) in &nodes {
        let (id, engine) = (id.clone(), running.engine.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate as u64));
            for i in 0.. {
                tick.tick().await;
                let _ = engine.write_async(request(&id, i)).await;
            }
        });
    }
    Tree { mode, district, communities: nodes }
}

impl Tree {
    /// One probe: a write at a community to readable at the district.
    async fn propagation(&self, p: usize) -> Duration {
        let (id, running, _) = &self.communities[p % self.communities.len()];
        let started = Instant::now();
        let key = running.engine.write_async(request(id, 1_000_000 + p)).await.expect("probe write").key;
        loop {
            if self.district.engine.get_async(key.clone()).await.expect("get").is_some() {
                return started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(30) {
                panic!("{}: probe {p} never reached the district", self.mode.name());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// p50, p90, p99 and max of `latencies`, sorted in place, in ms.
fn summary(latencies: &mut [Duration]) -> String {
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(latencies, 0.5)),
        ms(percentile(latencies, 0.9)),
        ms(percentile(latencies, 0.99)),
        latencies.last().map_or(0.0, |d| ms(*d)),
    )
}

fn median_ratio(tls: &[Duration], plain: &[Duration]) -> f64 {
    percentile(tls, 0.5).as_secs_f64() / percentile(plain, 0.5).as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let streets = env("LINLI_BENCH_STREETS", 2).max(1);
    let communities = env("LINLI_BENCH_COMMUNITIES", 8).max(1);
    let rate = env("LINLI_BENCH_RATE", 10).max(1);
    let probes = env("LINLI_BENCH_PROBES", 300).max(1);
    let collector = match env("LINLI_BENCH_TRACES", 0) {
        0 => None,
        _ => {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let collector = linli_sim::real::collector::Collector::start().await.expect("collector");
            let spans = linli_node::telemetry::layer(&collector.endpoint(), "LINLI_BENCH_TRACES").expect("exporter");
            tracing_subscriber::registry().with(spans).init();
            Some(collector)
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let mut ids = vec!["lg".to_string(), CLIENT.to_string()];
    ids.extend((0..streets).map(|s| format!("lg-s{s}")));
    ids.extend((0..communities).map(|c| format!("lg-s{}-c{c}", c % streets)));
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    linli_tls::dev::DevCa::new("lg").expect("CA").write_nodes(&certs, &ids).expect("certificates");
    let plain = tree(Mode::Plaintext, &dir.path().join("plain"), streets, communities, rate).await;
    let tls = tree(Mode::Tls(certs), &dir.path().join("tls"), streets, communities, rate).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Alternating probes: first one tree, then the other, `probes` each.
    let (mut plain_ms, mut tls_ms) = (Vec::with_capacity(probes), Vec::with_capacity(probes));
    for p in 0..probes {
        let (first, second) = if p % 2 == 0 { (&plain, &tls) } else { (&tls, &plain) };
        for tree in [first, second] {
            let latency = tree.propagation(p).await;
            match tree.mode {
                Mode::Plaintext => plain_ms.push(latency),
                Mode::Tls(_) => tls_ms.push(latency),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "propagation community -> district, {communities} communities under {streets} streets, {rate} writes/s each, \
         {probes} probes per tree"
    );
    println!("  plaintext:  {}", summary(&mut plain_ms));
    println!("  mutual TLS: {}", summary(&mut tls_ms));
    println!("  TLS / plaintext, median: {:.2}", median_ratio(&tls_ms, &plain_ms));

    // One writer calling Registry.Write at a community, acknowledged once durable.
    let mut clients = Vec::new();
    for tree in [&plain, &tls] {
        let (id, _, url) = &tree.communities[0];
        clients.push((tree.mode.clone(), id.clone(), RegistryClient::new(tree.mode.channel(url, id).await)));
    }
    let (mut plain_ack, mut tls_ack) = (Vec::with_capacity(probes), Vec::with_capacity(probes));
    for p in 0..probes {
        let order = if p % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let (mode, id, client) = &mut clients[i];
            let write = linli_proto::v1::WriteRequest::from(&request(id, 2_000_000 + p));
            let started = Instant::now();
            client.write(write).await.expect("write");
            match mode {
                Mode::Plaintext => plain_ack.push(started.elapsed()),
                Mode::Tls(_) => tls_ack.push(started.elapsed()),
            }
        }
    }
    println!("acknowledgement of one writer's Registry.Write at a community, {probes} writes per transport");
    println!("  plaintext:  {}", summary(&mut plain_ack));
    println!("  mutual TLS: {}", summary(&mut tls_ack));
    println!("  TLS / plaintext, median: {:.2}", median_ratio(&tls_ack, &plain_ack));

    // The servers run until the process ends; their stores go with the directory.
    let size = dir_size(dir.path());
    if let Some(collector) = &collector {
        linli_node::telemetry::flush();
        println!(
            "traces: {} spans exported to the in-process collector",
            collector.spans().len() as u64 + collector.dropped()
        );
    }
    println!("stores on disk: {:.0} MB for {} servers", size as f64 / 1e6, 2 * (1 + streets + communities));
    drop(dir);
    std::process::exit(0);
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
