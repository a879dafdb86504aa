//! linli's records under what a user could pick instead, in one process (the
//! performance issue's peers, first part): the floor, plain Automerge applying the
//! changes with no storage and no network; and Automerge's own sync protocol, one
//! session per document, as a user of Automerge alone would run it: its bytes and
//! round trips for a catch-up and for an idle reconnect. Not yet here: samod and
//! linli's own link over loopback (the issue goes on).
//!
//! The records are linli's: requests written one at a time through linli's replica
//! (one Automerge change each, as `Registry.Write` makes them), taken from its log.
//!
//! `cargo bench -p linli-benches --bench peers` (env: `LINLI_BENCH_DOCS`, default 100
//! documents; `LINLI_BENCH_PER_DOC`, default 100 changes each, of which the second
//! half is the catch-up, as if written while offline; `LINLI_BENCH_IDLE_DOCS`, default
//! 1,000 documents of 10 records for the idle reconnect; `LINLI_BENCH_TRIALS`, default 5).

use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, Change};
use linli_benches::{NOW_MS, request_at};
use linli_core::ids::NodeId;
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{MemoryStore, Storage};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The changes of `per_doc` requests written one at a time at each of `docs`
/// communities (one requests document each), as linli logs them.
fn linli_changes(docs: usize, per_doc: usize) -> Vec<Vec<Vec<u8>>> {
    let registries = Registries::defaults().expect("registries");
    (0..docs)
        .map(|d| {
            let community = format!("lg-s01-c{d:04}");
            let config = ReplicaConfig::new(NodeId::new(&community).expect("id"), Scope::only(&community));
            let mut replica = StoredReplica::open(config, registries.clone(), MemoryStore::new()).expect("replica");
            for i in 0..per_doc {
                replica.write(request_at(&community, i), NOW_MS).expect("write");
            }
            let entries = replica.store.log_after(0, usize::MAX).expect("log");
            entries.into_iter().filter(|e| e.doc.registry == "requests").flat_map(|e| e.changes).collect()
        })
        .collect()
}

fn genesis() -> AutoCommit {
    AutoCommit::load(linli_core::doc::genesis_bytes()).expect("genesis")
}

fn loaded(changes: &[Vec<u8>]) -> AutoCommit {
    let mut doc = genesis();
    let changes: Vec<Change> = changes.iter().map(|c| Change::from_bytes(c.clone()).expect("change")).collect();
    doc.apply_changes(changes).expect("apply");
    doc
}

/// One message from `from` to `to`, if `from` has one: its bytes.
fn send(from: &mut AutoCommit, from_state: &mut State, to: &mut AutoCommit, to_state: &mut State) -> Option<usize> {
    let bytes = from.sync().generate_sync_message(from_state)?.encode();
    to.sync().receive_sync_message(to_state, Message::decode(&bytes).expect("decode")).expect("receive");
    Some(bytes.len())
}

/// Automerge's sync protocol between `a` and `b` from fresh states until neither has
/// anything to say: bytes each way and messages.
fn sync_session(a: &mut AutoCommit, b: &mut AutoCommit) -> (usize, usize, usize) {
    let (mut sa, mut sb) = (State::new(), State::new());
    let (mut a_to_b, mut b_to_a, mut messages) = (0, 0, 0);
    loop {
        let there = send(a, &mut sa, b, &mut sb);
        let back = send(b, &mut sb, a, &mut sa);
        if there.is_none() && back.is_none() {
            assert_eq!(a.get_heads(), b.get_heads(), "the sync ended with the documents apart");
            return (a_to_b, b_to_a, messages);
        }
        a_to_b += there.unwrap_or(0);
        b_to_a += back.unwrap_or(0);
        messages += usize::from(there.is_some()) + usize::from(back.is_some());
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let docs = env("LINLI_BENCH_DOCS", 100).max(1);
    let per_doc = env("LINLI_BENCH_PER_DOC", 100).max(2);
    let idle_docs = env("LINLI_BENCH_IDLE_DOCS", 1_000).max(1);
    let trials = env("LINLI_BENCH_TRIALS", 5).max(1);
    let changes = linli_changes(docs, per_doc);
    let total: usize = changes.iter().map(Vec::len).sum();
    let raw: usize = changes.iter().flatten().map(Vec::len).sum();
    println!("linli's records: {total} changes (one request each) over {docs} documents, {raw} bytes of changes");

    // The floor: apply_changes into fresh documents, no storage, no network.
    let floor = median(
        (0..trials)
            .map(|_| {
                let started = Instant::now();
                for doc in &changes {
                    std::hint::black_box(loaded(doc));
                }
                started.elapsed()
            })
            .collect(),
    );
    println!(
        "floor, plain Automerge apply_changes: {:.0} changes/s (median of {trials}: {:.1} ms for {total})",
        total as f64 / floor.as_secs_f64(),
        floor.as_secs_f64() * 1e3
    );

    // Automerge's sync protocol, one session per document: both ends hold the first
    // half of each document's changes, the source wrote the second half offline.
    let full: Vec<AutoCommit> = changes.iter().map(|doc| loaded(doc)).collect();
    let halves: Vec<AutoCommit> = changes.iter().map(|doc| loaded(&doc[..doc.len() / 2])).collect();
    let caught: usize = changes.iter().map(|doc| doc.len() - doc.len() / 2).sum();
    let mut catch_up = Vec::with_capacity(trials);
    let (mut bytes_up, mut bytes_down, mut messages) = (0, 0, 0);
    for _ in 0..trials {
        let mut sources = full.clone();
        let mut targets = halves.clone();
        let started = Instant::now();
        (bytes_up, bytes_down, messages) = (0, 0, 0);
        for (a, b) in sources.iter_mut().zip(targets.iter_mut()) {
            let (up, down, count) = sync_session(a, b);
            (bytes_up, bytes_down, messages) = (bytes_up + up, bytes_down + down, messages + count);
        }
        catch_up.push(started.elapsed());
    }
    let catch_up = median(catch_up);
    println!(
        "Automerge sync, catch-up of {caught} changes over {docs} documents: {:.0} ms, {} bytes ({:.0} per change; \
         {} back), {} messages ({:.1} per document)",
        catch_up.as_secs_f64() * 1e3,
        bytes_up,
        bytes_up as f64 / caught as f64,
        bytes_down,
        messages,
        messages as f64 / docs as f64
    );

    // An idle reconnect: both ends hold the same; fresh sync states per document (a
    // user of Automerge alone keeps none across connections).
    let idle = linli_changes(idle_docs, 10);
    let mut pairs: Vec<(AutoCommit, AutoCommit)> = idle.iter().map(|doc| (loaded(doc), loaded(doc))).collect();
    let started = Instant::now();
    let (mut up, mut down, mut count) = (0, 0, 0);
    for (a, b) in &mut pairs {
        let (u, d, c) = sync_session(a, b);
        (up, down, count) = (up + u, down + d, count + c);
    }
    println!(
        "Automerge sync, idle reconnect of {idle_docs} documents of 10 records: {} bytes both ways, {} messages, {:.0} ms",
        up + down,
        count,
        started.elapsed().as_secs_f64() * 1e3
    );
}
