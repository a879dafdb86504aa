//! No acknowledged write is lost after `kill -9`.
//!
//! This binary is both sides. Run by `cargo test`, it is the parent: it starts itself
//! again as a writer on one data directory, lets it write records as fast as it can
//! with several threads (the writer prints each record's key once the engine has
//! acknowledged it), kills it with SIGKILL at a random moment, reopens the store and
//! checks that every acknowledged record is there and that the views equal a recount.
//! It does that many times on the same directory. `LINLI_CRASH_SEED` replays a run.

use linli_core::ids::{NodeId, RecordKey};
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::write::Write;
use linli_node::{Engine, EngineConfig};
use linli_store_rocks::RocksStore;
use serde_json::json;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const COMMUNITY: &str = "lg-pingdi-pingdi";
const WRITER_DIR_ENV: &str = "LINLI_CRASH_WRITER_DIR";
const ROUNDS: usize = 24;
const WRITER_THREADS: usize = 8;
/// A writer left alone stops by itself after this long.
const WRITER_LIFETIME: Duration = Duration::from_secs(60);

fn config() -> ReplicaConfig {
    ReplicaConfig::new(NodeId::new(COMMUNITY).expect("valid node id"), Scope::only(COMMUNITY))
}

fn writer(dir: &str) {
    let engine_config = EngineConfig::new(config(), Registries::defaults().expect("defaults"), dir.into());
    let engine = Engine::start(engine_config).expect("engine starts");
    let started = Instant::now();
    let threads: Vec<_> = (0..WRITER_THREADS)
        .map(|t| {
            let handle = engine.handle();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while started.elapsed() < WRITER_LIFETIME {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(1);
                    let write = Write::create(
                        COMMUNITY,
                        "requests",
                        &[
                            ("category", json!("safety")),
                            ("channel", json!("hotline")),
                            ("grid", json!(format!("grid-{t}"))),
                            ("summary", json!(format!("writer {t} request {i}"))),
                            ("reported_at", json!(now)),
                            ("deadline", json!(now + 3_600_000)),
                            ("reporter_phone", json!("13900000000")),
                        ],
                    );
                    let written = handle.write(write).expect("write acknowledged");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {}", written.key).and_then(|_| out.flush()).expect("stdout");
                    i += 1;
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn parent() {
    let seed = std::env::var("LINLI_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(7) | 1);
    println!("crash test: seed {seed} (LINLI_CRASH_SEED={seed} replays the kill times)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = std::env::current_exe().expect("own path");
    let mut acked: Vec<RecordKey> = Vec::new();
    for round in 1..=ROUNDS {
        let mut child = Command::new(&exe)
            .env(WRITER_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("writer starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut keys = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = Vec::new();
            // A line cut by the kill has no newline: that write was not reported.
            while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                if line.ends_with(b"\n")
                    && let Some(key) = std::str::from_utf8(&line).ok().and_then(|l| l.trim_end().strip_prefix("ACK "))
                {
                    keys.push(RecordKey::parse(key).expect("writer prints record keys"));
                }
                line.clear();
            }
            keys
        });
        // Opening RocksDB takes tens of milliseconds: kill some rounds during start-up,
        // most while writing.
        std::thread::sleep(Duration::from_millis(50 + rng.below(700)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let keys = reader.join().expect("reader");
        let new = keys.len();
        acked.extend(keys);

        let store = RocksStore::open(dir.path()).expect("store reopens after kill -9");
        let mut node = StoredReplica::open(config(), Registries::defaults().expect("defaults"), store)
            .expect("replica reopens after kill -9");
        let mut missing = Vec::new();
        for key in &acked {
            if node.replica.get(&node.store, key).expect("read").is_none() {
                missing.push(key.to_string());
            }
        }
        assert!(
            missing.is_empty(),
            "round {round} (seed {seed}): {} acknowledged records lost, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(3)]
        );
        let views = node.replica.views().clone();
        let recount = node.replica.recount(&node.store).expect("recount");
        assert_eq!(views, recount, "round {round} (seed {seed}): views differ from a recount after kill -9");
        let stored: i64 = views.counts.iter().filter(|(k, _)| k.registry == "requests").map(|(_, v)| v).sum();
        assert!(stored >= acked.len() as i64, "round {round}: {stored} stored < {} acknowledged", acked.len());
        println!(
            "round {round:>2}: killed after {new:>5} new acknowledgements; {:>6} acknowledged, {stored:>6} stored, all found, views = recount",
            acked.len()
        );
    }
    assert!(acked.len() > 1_000, "the writer barely wrote ({} records): the test proved little", acked.len());
    println!("crash test: {ROUNDS} kills, {} acknowledged records, none lost", acked.len());
}

fn main() {
    match std::env::var(WRITER_DIR_ENV) {
        Ok(dir) => writer(&dir),
        Err(_) => parent(),
    }
}
