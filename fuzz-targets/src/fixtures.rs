//! The little tree the targets run in: a street (this node) between its district and
//! two communities, and the documents their frames and log entries name. Names are
//! those of the project's sample tree, so seeds read like real traffic.

use linli_core::ids::{DocId, NodeId};
use linli_core::link::{Checkpoint, Hello, Routes, Tier};
use linli_core::store::LogEntry;
use std::sync::OnceLock;

pub(crate) const DISTRICT: &str = "lg";
pub(crate) const STREET: &str = "lg-pingdi";
pub(crate) const COMMUNITY: &str = "lg-pingdi-pingdi";
pub(crate) const OTHER_COMMUNITY: &str = "lg-pingdi-fuping";

/// 2026-11-22T04:00:00Z: the time of every seed's changes.
pub(crate) const NOW_MS: u64 = 1_795_320_000_000;

/// Ids the fixtures spell correctly; a typo here is a bug of the harness, not a find.
pub(crate) fn node(name: &str) -> NodeId {
    NodeId::new(name).expect("a fixture's node id")
}

fn doc(owner: &str, registry: &str, shard: &str) -> DocId {
    DocId::new(owner, registry, shard).expect("a fixture's document id")
}

/// Documents of every kind a street's link carries: each community's, the street's
/// own, and the district's broadcast. Made once: scripts name them thousands of times.
pub(crate) fn docs() -> &'static [DocId; 5] {
    static DOCS: OnceLock<[DocId; 5]> = OnceLock::new();
    DOCS.get_or_init(|| {
        [
            doc(COMMUNITY, "requests", "2026-11"),
            doc(COMMUNITY, "tasks", "2026-11"),
            doc(OTHER_COMMUNITY, "requests", "2026-11"),
            doc(STREET, "sites", "all"),
            doc(DISTRICT, "projects", "2026"),
        ]
    })
}

/// The street's routes: each community's subtree is the community alone.
pub(crate) fn street() -> Routes {
    let mut routes = Routes::new(&node(STREET));
    for community in [COMMUNITY, OTHER_COMMUNITY] {
        routes.children.insert(community.to_string(), [community.to_string()].into());
    }
    routes
}

/// The Hello of node `name` at `tier`, with a log `<name>.1` ending at `log_end`.
pub(crate) fn hello(name: &str, tier: Tier, log_end: u64, checkpoint: Option<Checkpoint>) -> Hello {
    Hello {
        node: node(name),
        tier,
        log_id: log_id(name),
        log_end,
        log_trimmed: 0,
        checkpoint,
        subtree: [name.to_string()].into(),
    }
}

pub(crate) fn log_id(name: &str) -> String {
    format!("{name}.1")
}

/// Entry `seq` of the street's own log: made up, but the same every time it is read,
/// so a checkpoint's fingerprint can name it. Every third came from a community (a
/// link never ships it back there).
pub(crate) fn street_entry(seq: u64) -> LogEntry {
    let docs = docs();
    let doc = docs[(seq % docs.len() as u64) as usize].clone();
    let origin = seq.is_multiple_of(3).then(|| node(COMMUNITY));
    LogEntry { seq, doc, origin, changes: vec![seq.to_be_bytes().to_vec()], traces: Vec::new() }
}
