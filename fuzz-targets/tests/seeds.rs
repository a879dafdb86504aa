//! Writes the seed inputs of the corpora: real frames of every kind, real Automerge
//! changes and sync messages of linli records, and session scripts that walk the
//! protocol's main paths. The fuzzer grows the corpora from them.
//!
//! Run it when a target's input format changes, then fuzz and minimize (see
//! `docs/fuzzing.md`):
//!
//! ```text
//! cargo test -p linli-fuzz-targets --test seeds -- --ignored
//! ```

use linli_core::ids::{DocId, NodeId};
use linli_core::link::{Checkpoint, Frame, Hello, Tier};
use linli_core::replica::{Effect, Event, ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{LogEntry, MemoryStore, Storage};
use linli_core::write::{FieldOp, Write};
use linli_proto::v1;
use prost::Message;
use serde_json::json;
use std::path::PathBuf;

const COMMUNITY: &str = "lg-pingdi-pingdi";
const STREET: &str = "lg-pingdi";
const DISTRICT: &str = "lg";
const NOW_MS: u64 = 1_795_320_000_000;

fn replica(node: &str, scope: Scope) -> StoredReplica<MemoryStore> {
    // Another start than the fuzzed street's, so the changes come from another actor.
    let config = ReplicaConfig { incarnation: 7, ..ReplicaConfig::new(NodeId::new(node).unwrap(), scope) };
    StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap()
}

/// A community's log: a request reported then dispatched, and a task claimed.
fn community_log() -> (StoredReplica<MemoryStore>, Vec<LogEntry>) {
    let mut community = replica(COMMUNITY, Scope::only(COMMUNITY));
    let request = [
        ("category", json!("environment")),
        ("channel", json!("qr_code")),
        ("grid", json!("grid-3")),
        ("summary", json!("路面鼓包")),
        ("reported_at", json!(NOW_MS as i64)),
        ("deadline", json!(NOW_MS as i64 + 5 * 3_600_000)),
    ];
    let key = community.write(Write::create(COMMUNITY, "requests", &request), NOW_MS).unwrap().key;
    assert_eq!(key.doc.to_string(), "lg-pingdi-pingdi/requests/2026-11", "the fixtures' document");
    community.write(Write::set(key, &[("status", json!("dispatched"))]), NOW_MS + 1_000).unwrap();
    let task = [("service", json!("meal_delivery")), ("summary", json!("送餐")), ("ordered_at", json!(NOW_MS as i64))];
    let task = community.write(Write::create(COMMUNITY, "tasks", &task), NOW_MS + 2_000).unwrap().key;
    assert_eq!(task.doc.to_string(), "lg-pingdi-pingdi/tasks/2026-11", "the fixtures' document");
    let claim = FieldOp::Claim { field: "assignee".into(), by: "volunteer-17".into() };
    community.write(Write::update(task, vec![claim]), NOW_MS + 3_000).unwrap();
    let log = community.store.log_after(0, 100).unwrap();
    (community, log)
}

/// The changes of a record another node writes: a street's site, a district's project.
fn written_changes(node: &str, scope: Scope, write: Write, doc: &str) -> Vec<Vec<u8>> {
    let mut writer = replica(node, scope);
    let key = writer.write(write, NOW_MS).unwrap().key;
    assert_eq!(key.doc.to_string(), doc, "the fixtures' document");
    writer.store.log_after(0, 100).unwrap().into_iter().flat_map(|entry| entry.changes).collect()
}

/// The community's sync messages on `doc` to a street that holds nothing: its first
/// (heads only), then the one that carries every change.
fn sync_messages(community: &mut StoredReplica<MemoryStore>, doc: &DocId) -> Vec<Vec<u8>> {
    let street = NodeId::new(STREET).unwrap();
    let sync = |replica: &mut StoredReplica<MemoryStore>, peer: &NodeId, message| {
        let event = Event::Sync {
            peer: peer.clone(),
            actors_refused: Default::default(),
            doc: doc.clone(),
            message,
            now_ms: NOW_MS,
        };
        replica.step(event).unwrap().into_iter().find_map(|effect| match effect {
            Effect::Sync { reply, .. } => reply,
            _ => None,
        })
    };
    let first = sync(community, &street, None).expect("a first message");
    let mut empty = replica(STREET, Scope::only(STREET));
    let holds_nothing = sync(&mut empty, &NodeId::new(COMMUNITY).unwrap(), None).expect("the street's first");
    let with_changes = sync(community, &street, Some(holds_nothing)).expect("the changes");
    vec![first, with_changes]
}

fn corpus(target: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    // Every seed must pass its target: a seed that crashes is a bug to fix first.
    let (_, run) = linli_fuzz_targets::TARGETS.into_iter().find(|(t, _)| *t == target).unwrap();
    run(bytes);
    std::fs::write(corpus(target).join(format!("seed-{name}")), bytes).unwrap();
}

/// Pieces of an `apply_changes` input: two bytes of length, then the bytes.
fn pieces(flags: u8, pieces: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![flags];
    for piece in pieces {
        out.extend_from_slice(&u16::try_from(piece.len()).unwrap().to_be_bytes());
        out.extend_from_slice(piece);
    }
    out
}

#[test]
#[ignore = "writes the seeds of fuzz/corpus; run by hand"]
fn write_seeds() {
    let (mut community, log) = community_log();
    let request_doc = log[0].doc.clone();
    let request: Vec<Vec<u8>> = log.iter().filter(|e| e.doc == request_doc).flat_map(|e| e.changes.clone()).collect();
    let task: Vec<Vec<u8>> = log.iter().filter(|e| e.doc != request_doc).flat_map(|e| e.changes.clone()).collect();
    let messages = sync_messages(&mut community, &request_doc);
    frames(&log, &messages);
    sessions(&messages);

    let reversed: Vec<Vec<u8>> = request.iter().rev().cloned().collect();
    seed("apply_changes", "request-in-one-batch", &pieces(0, &request));
    seed("apply_changes", "request-one-by-one", &pieces(8, &request));
    seed("apply_changes", "request-update-before-create", &pieces(8, &reversed));
    seed("apply_changes", "task-claimed", &pieces(1, &task));
    seed("apply_changes", "request-sync", &pieces(16, &messages));
    let truncated = request[0][..request[0].len() / 2].to_vec();
    seed("apply_changes", "request-truncated", &pieces(0, &[truncated]));
    let site = Write::create(STREET, "sites", &[("kind", json!("micro_station")), ("name", json!("平地暖心柜"))]);
    let site = written_changes(STREET, Scope::only(STREET), site, "lg-pingdi/sites/all");
    seed("apply_changes", "street-site", &pieces(3, &site));
    let project = [
        ("kind", json!("service")),
        ("title", json!("长者饭堂")),
        ("planned_at", json!(NOW_MS as i64)),
        ("budget", json!("120000.00")),
    ];
    let project = Write::create(DISTRICT, "projects", &project);
    let project = written_changes(DISTRICT, Scope::All, project, "lg/projects/2026");
    seed("apply_changes", "district-project", &pieces(4, &project));
}

/// One frame of every kind, as a peer sends them.
fn frames(log: &[LogEntry], messages: &[Vec<u8>]) {
    let frame = |name: &str, frame: Frame| seed("frame", name, &v1::Frame::from(&frame).encode_to_vec());
    let checkpoint = Checkpoint { log_id: "lg-pingdi.1".into(), through: 12, fingerprint: 0x5eed };
    frame(
        "hello-community",
        Frame::Hello(Hello {
            node: NodeId::new(COMMUNITY).unwrap(),
            tier: Tier::Community,
            log_id: "lg-pingdi-pingdi.7".into(),
            log_end: log.len() as u64,
            log_trimmed: 1,
            checkpoint: Some(checkpoint),
            subtree: [COMMUNITY.to_string()].into(),
        }),
    );
    frame(
        "hello-district",
        Frame::Hello(Hello {
            node: NodeId::new(DISTRICT).unwrap(),
            tier: Tier::District,
            log_id: "lg.3".into(),
            log_end: 0,
            log_trimmed: 0,
            checkpoint: None,
            subtree: [DISTRICT.to_string(), STREET.to_string()].into(),
        }),
    );
    let fingerprint = log.last().map_or(0, LogEntry::fingerprint);
    frame("batch", Frame::Batch { entries: log.to_vec(), through: log.len() as u64, fingerprint });
    frame("batch-empty", Frame::Batch { entries: Vec::new(), through: 9, fingerprint: 0 });
    frame("ack", Frame::Ack { through: 4, above: Vec::new() });
    let reason = "document lg-pingdi-fuping/requests/2026-11 belongs to `lg-pingdi-fuping`".to_string();
    frame("refusal", Frame::Refusal { seq: 3, doc: "lg-pingdi-fuping/requests/2026-11".into(), reason });
    frame("sync", Frame::Sync { doc: log[0].doc.clone(), message: messages[1].clone() });
    seed("frame", "no-body", &[]);
}

/// Session scripts (see `session_batch`'s reader): the main paths of a link.
fn sessions(messages: &[Vec<u8>]) {
    // The link's bounds: the defaults; batches of 2 entries, 2 in flight; one entry per
    // batch, one in flight.
    const DEFAULT_LIMITS: u8 = 0x80;
    const SMALL_LIMITS: u8 = 1 | (1 << 3);
    const ONE_BY_ONE: u8 = 0x20;
    // A batch: its entries (seq step, document, changes), then the step to `through`,
    // the fingerprint, and the engine's answer (0: taken, 1: refused, 2: retry, 4: waiting).
    fn batch(out: &mut Vec<u8>, entries: &[(u8, u8)], through_step: u8, answer: u8) {
        out.extend([0, entries.len() as u8]);
        for &(step, doc) in entries {
            out.extend([step, doc, 1, 0, 2, 0xab, 0xcd]);
        }
        out.extend([through_step, 7, answer]);
    }
    // The runtime's turn: the log grows by `grows`, time passes, it polls.
    let turn = |out: &mut Vec<u8>, grows: u8| out.extend([5, grows, 20, 1, 0]);
    let ack_all = |out: &mut Vec<u8>| out.extend([1, 0]);

    // A community, new: both logs flow, the street acks and is acked.
    let mut fresh = vec![0, DEFAULT_LIMITS, 6, 0, 4, 0];
    batch(&mut fresh, &[(1, 0), (1, 1), (1, 0)], 1, 0);
    turn(&mut fresh, 0);
    ack_all(&mut fresh);
    batch(&mut fresh, &[(1, 2)], 0, 0); // another community's document: refused
    turn(&mut fresh, 30);
    ack_all(&mut fresh);
    seed("session_batch", "child-first-contact", &fresh);

    // The engine's other answers: refused for good, waiting (synced soon), retry.
    let mut answers = vec![0, DEFAULT_LIMITS, 0, 0, 9, 0];
    batch(&mut answers, &[(1, 0), (1, 1)], 0, 1);
    batch(&mut answers, &[(1, 0)], 2, 4);
    turn(&mut answers, 0);
    batch(&mut answers, &[(1, 1)], 0, 2);
    seed("session_batch", "child-engine-answers", &answers);

    // A sync message from the child on its own document, and on the street's
    // (a broadcast: only its heads are taken).
    let mut sync = vec![0, DEFAULT_LIMITS, 0, 0, 0, 0];
    for doc in [0, 3] {
        sync.extend([2, doc]);
        sync.extend_from_slice(&u16::try_from(messages[1].len()).unwrap().to_be_bytes());
        sync.extend_from_slice(&messages[1]);
        // The engine's answers: the first message on a document starts its sync over
        // (answered with a reply and a refusal), then takes the message (nothing to say).
        sync.extend([3, 0]);
    }
    seed("session_batch", "child-sync", &sync);

    // The district, with checkpoints on both sides that name each other's logs.
    let mut parent = vec![1 | 2 | 4 | 8 | 16 | 32, SMALL_LIMITS, 20, 5, 30, 0, 10, 0, 8];
    batch(&mut parent, &[(1, 4), (2, 3)], 1, 0);
    turn(&mut parent, 10);
    parent.extend([3, 3]); // a refusal of the street's entry 3
    parent.extend(b"lg-");
    ack_all(&mut parent);
    seed("session_batch", "parent-resumes", &parent);

    // The district lost the street's log (another log id): repair of every document.
    let mut repair = vec![1 | 2 | 4 | 8, ONE_BY_ONE, 20, 0, 30, 0, 10, 0, 12, 0];
    turn(&mut repair, 0);
    repair.extend([6, 0b11111]); // quarantined documents
    turn(&mut repair, 0);
    seed("session_batch", "parent-repair", &repair);

    // The street's store went back to a backup: the child's checkpoint is past its end.
    seed("session_batch", "restored-backup", &[8 | 32, DEFAULT_LIMITS, 4, 0, 0, 0, 9, 0]);

    // Protocol breaks: an entry out of order, an Ack of what was never sent, a second Hello.
    let mut broken = vec![0, DEFAULT_LIMITS, 0, 0, 0, 0];
    batch(&mut broken, &[(2, 0), (0, 0)], 0, 0);
    seed("session_batch", "out-of-order", &broken);
    seed("session_batch", "ack-unsent", &[0, DEFAULT_LIMITS, 0, 0, 0, 0, 1, 2, 40]);
    seed("session_batch", "second-hello", &[0, DEFAULT_LIMITS, 0, 0, 0, 0, 4]);
}
