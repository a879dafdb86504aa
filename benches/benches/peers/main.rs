//! linli's link beside what a user could pick instead, in one process, on the same
//! records (a community's requests, one Automerge change each):
//!
//! - the floor: plain Automerge applying the changes, no storage, no network;
//! - Automerge's own sync protocol, one session per document, as a user of Automerge
//!   alone would run it (in memory, no network): bytes and messages;
//! - samod, the Rust automerge-repo: two repos over loopback TCP ([`samod`]);
//! - linli's link: a community server and its street server over loopback gRPC
//!   ([`link`]), every write durable at both ends.
//!
//! samod and linli run through the same counting relay ([`relay`]) and alternate
//! trial by trial, so the machine's noise falls on both; the report gives medians and
//! each figure as a ratio to its peer. What "arrived" means differs, and the report
//! says so: linli's street has synced the batch to its disk, samod's repo holds it in
//! memory (samod's storage here is in memory, as it acknowledges nothing durable).
//!
//! `cargo bench -p linli-benches --bench peers` (env: `LINLI_BENCH_DOCS`, default 100
//! documents; `LINLI_BENCH_PER_DOC`, default 100 changes each for throughput and as
//! the catch-up's base; `LINLI_BENCH_NEW`, default 50 changes each written offline for
//! the catch-up; `LINLI_BENCH_IDLE_DOCS`, default 1,000 documents of 10 records for the
//! idle reconnect; `LINLI_BENCH_TRIALS`, default 3; `LINLI_BENCH_PART=throughput` runs the
//! throughput trials only, `link` linli's alone, for profiling).

mod automerge_sync;
mod link;
mod records;
mod relay;
mod samod;

use std::time::Duration;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One timed transfer of `changes` changes over the relay.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub changes: usize,
    pub elapsed: Duration,
    /// Bytes both ways until the receiver had every change.
    pub bytes_until: u64,
    /// Bytes both ways until the wire went quiet (trailing acknowledgements too).
    pub bytes_total: u64,
}

impl Trial {
    pub fn new(changes: usize, elapsed: Duration, before: (u64, u64), until: (u64, u64), after: (u64, u64)) -> Trial {
        let both = |(up, down): (u64, u64)| up + down;
        Trial { changes, elapsed, bytes_until: both(until) - both(before), bytes_total: both(after) - both(before) }
    }

    fn per_s(&self) -> f64 {
        self.changes as f64 / self.elapsed.as_secs_f64()
    }

    fn bytes_per_change(&self) -> f64 {
        self.bytes_total as f64 / self.changes as f64
    }
}

/// A reconnect's bytes both ways and how long until the wire went quiet.
#[derive(Debug, Clone, Copy)]
pub struct LinkFigures {
    pub bytes: u64,
    pub elapsed: Duration,
}

/// The median trial by `key`.
fn median<T: Copy>(mut trials: Vec<T>, key: impl Fn(&T) -> f64) -> T {
    trials.sort_by(|a, b| key(a).total_cmp(&key(b)));
    trials[trials.len() / 2]
}

fn main() {
    let docs = env("LINLI_BENCH_DOCS", 100).max(1);
    let per_doc = env("LINLI_BENCH_PER_DOC", 100).max(1);
    let new = env("LINLI_BENCH_NEW", 50).max(1);
    let idle_docs = env("LINLI_BENCH_IDLE_DOCS", 1_000).max(1);
    let trials = env("LINLI_BENCH_TRIALS", 3).max(1);
    // For profiling the link alone: `LINLI_BENCH_PART=throughput` skips the rest.
    // `link`: linli's throughput trials alone, so a profile shows only linli.
    let part = std::env::var("LINLI_BENCH_PART").unwrap_or_default();
    let throughput_only = part == "throughput" || part == "link";
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    let changes = records::changes_by_doc(docs, docs * (per_doc + new));
    let idle = records::changes_by_doc(idle_docs, idle_docs * 10);
    let throughput_changes: Vec<Vec<Vec<u8>>> = changes.iter().map(|doc| doc[..per_doc].to_vec()).collect();
    let caught: Vec<&Vec<u8>> = changes.iter().flat_map(|doc| &doc[per_doc..]).collect();
    let caught_raw: usize = caught.iter().map(|c| c.len()).sum();
    let caught_zstd = records::zstd_bytes(caught.iter().copied());
    println!(
        "records: a community's requests, one change each; {docs} documents; throughput {} changes; catch-up {} \
         changes ({caught_raw} raw bytes, {caught_zstd} zstd-3); idle reconnect {idle_docs} documents of 10",
        docs * per_doc,
        caught.len(),
    );

    let floor = automerge_sync::floor(&throughput_changes, trials);
    let sync_catch_up = automerge_sync::catch_up(&changes, per_doc);
    let sync_idle = automerge_sync::idle_reconnect(&idle);

    let (mut linli_runs, mut samod_runs) = (Vec::new(), Vec::new());
    let (mut linli_catch, mut samod_catch) = (Vec::new(), Vec::new());
    let (mut linli_idle, mut samod_idle) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = |name: &str| dir.path().join(format!("{name}-{trial}"));
        runtime.block_on(async {
            // Alternate who goes first, so a slow spell of the machine falls on both.
            for first in [trial % 2 == 0, trial % 2 != 0] {
                if first {
                    linli_runs.push(link::throughput(&run("throughput"), docs, per_doc).await);
                } else if part != "link" {
                    samod_runs.push(samod::throughput(&throughput_changes).await);
                }
            }
            if throughput_only {
                return;
            }
            linli_catch.push(link::catch_up(&run("catch-up"), docs, per_doc, new).await);
            samod_catch.push(samod::catch_up(&changes, per_doc).await);
            linli_idle.push(link::idle_reconnect(&run("idle"), idle_docs, 10).await);
            samod_idle.push(samod::idle_reconnect(&idle).await);
        });
        eprintln!("trial {trial} done");
    }
    if throughput_only {
        println!("linli {:.0} changes/s", median(linli_runs, Trial::per_s).per_s());
        if !samod_runs.is_empty() {
            println!("samod {:.0} changes/s", median(samod_runs, Trial::per_s).per_s());
        }
        std::process::exit(0);
    }
    let linli = median(linli_runs, Trial::per_s);
    let samod = median(samod_runs, Trial::per_s);
    let linli_catch = median(linli_catch, |t| t.bytes_total as f64);
    let samod_catch = median(samod_catch, |t| t.bytes_total as f64);
    let linli_idle = median(linli_idle, |f| f.bytes as f64);
    let samod_idle = median(samod_idle, |f| f.bytes as f64);

    println!("\nthroughput, {} changes written while linked (median of {trials})", linli.changes);
    println!("  floor, Automerge apply_changes alone: {:>9.0} changes/s", floor);
    println!(
        "  linli link (durable at both ends):    {:>9.0} changes/s, {:.0} bytes/change ({} until the street had all)",
        linli.per_s(),
        linli.bytes_per_change(),
        linli.bytes_until
    );
    println!(
        "  samod (in memory at both ends):       {:>9.0} changes/s, {:.0} bytes/change ({} until the peer had all)",
        samod.per_s(),
        samod.bytes_per_change(),
        samod.bytes_until
    );
    println!(
        "  linli / samod: {:.1}x the changes/s, {:.2}x the bytes",
        linli.per_s() / samod.per_s(),
        ratio_bytes(&linli, &samod)
    );

    println!("\ncatch-up of {} changes written offline (median of {trials})", linli_catch.changes);
    println!("  zstd-3 of their raw bytes:    {caught_zstd:>9} bytes");
    println!("  Automerge sync per document:  {:>9} bytes, {} messages", sync_catch_up.bytes, sync_catch_up.messages);
    for (name, trial) in [("linli link", &linli_catch), ("samod", &samod_catch)] {
        println!(
            "  {name:<29} {:>9} bytes ({:.2}x zstd, {:.2}x per-document sync), applied in {:.0} ms",
            trial.bytes_total,
            trial.bytes_total as f64 / caught_zstd as f64,
            trial.bytes_total as f64 / sync_catch_up.bytes as f64,
            trial.elapsed.as_secs_f64() * 1e3
        );
    }

    println!("\nidle reconnect, {idle_docs} documents held at both ends (median of {trials})");
    println!(
        "  Automerge sync per document, fresh states: {:>9} bytes, {} messages",
        sync_idle.bytes, sync_idle.messages
    );
    println!(
        "  samod:                                     {:>9} bytes, quiet after {:.0} ms",
        samod_idle.bytes,
        ms(samod_idle.elapsed)
    );
    println!(
        "  linli link:                                {:>9} bytes, quiet after {:.0} ms",
        linli_idle.bytes,
        ms(linli_idle.elapsed)
    );
    std::process::exit(0);
}

fn ratio_bytes(a: &Trial, b: &Trial) -> f64 {
    a.bytes_per_change() / b.bytes_per_change()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
