//! Plain Automerge on the same changes, in memory: the floor (`apply_changes`, no
//! storage, no network) and its sync protocol run one session per document, as a user
//! of Automerge alone would run it (fresh sync states on every connection).

use automerge::sync::{Message, State, SyncDoc};
use automerge::{AutoCommit, Change};
use std::time::{Duration, Instant};

/// Bytes (both ways) and messages of a set of sync sessions.
pub struct SyncFigures {
    pub bytes: usize,
    pub messages: usize,
}

fn loaded(changes: &[Vec<u8>]) -> AutoCommit {
    let mut doc = AutoCommit::load(linli_core::doc::genesis_bytes()).expect("genesis");
    let changes: Vec<Change> = changes.iter().map(|c| Change::from_bytes(c.clone()).expect("change")).collect();
    doc.apply_changes(changes).expect("apply");
    doc
}

/// Changes/s of loading every document's changes into a fresh document, one
/// `apply_changes` call each; the median of `trials`.
pub fn floor(changes: &[Vec<Vec<u8>>], trials: usize) -> f64 {
    let count: usize = changes.iter().map(Vec::len).sum();
    let mut times: Vec<Duration> = (0..trials)
        .map(|_| {
            let started = Instant::now();
            for doc in changes {
                std::hint::black_box(loaded(doc));
            }
            started.elapsed()
        })
        .collect();
    times.sort();
    count as f64 / times[times.len() / 2].as_secs_f64()
}

/// One message from `from` to `to`, if `from` has one: its bytes.
fn send(from: &mut AutoCommit, from_state: &mut State, to: &mut AutoCommit, to_state: &mut State) -> Option<usize> {
    let bytes = from.sync().generate_sync_message(from_state)?.encode();
    to.sync().receive_sync_message(to_state, Message::decode(&bytes).expect("decode")).expect("receive");
    Some(bytes.len())
}

/// The sync protocol between `a` and `b` from fresh states until neither has
/// anything to say.
fn session(a: &mut AutoCommit, b: &mut AutoCommit) -> SyncFigures {
    let (mut sa, mut sb) = (State::new(), State::new());
    let mut figures = SyncFigures { bytes: 0, messages: 0 };
    loop {
        let there = send(a, &mut sa, b, &mut sb);
        let back = send(b, &mut sb, a, &mut sa);
        if there.is_none() && back.is_none() {
            assert_eq!(a.get_heads(), b.get_heads(), "the sync ended with the documents apart");
            return figures;
        }
        for sent in [there, back].into_iter().flatten() {
            figures.bytes += sent;
            figures.messages += 1;
        }
    }
}

fn sessions(pairs: &mut [(AutoCommit, AutoCommit)]) -> SyncFigures {
    let mut total = SyncFigures { bytes: 0, messages: 0 };
    for (a, b) in pairs {
        let figures = session(a, b);
        total.bytes += figures.bytes;
        total.messages += figures.messages;
    }
    total
}

/// One side holds every change of each document, the other the first `base`.
pub fn catch_up(changes: &[Vec<Vec<u8>>], base: usize) -> SyncFigures {
    let mut pairs: Vec<(AutoCommit, AutoCommit)> =
        changes.iter().map(|doc| (loaded(doc), loaded(&doc[..base.min(doc.len())]))).collect();
    sessions(&mut pairs)
}

/// Both sides hold the same documents.
pub fn idle_reconnect(changes: &[Vec<Vec<u8>>]) -> SyncFigures {
    let mut pairs: Vec<(AutoCommit, AutoCommit)> = changes.iter().map(|doc| (loaded(doc), loaded(doc))).collect();
    sessions(&mut pairs)
}
