//! What a link carries: scope at the parent, and the cost of an idle reconnect.

mod common;

use common::*;
use linli_core::ids::NodeId;
use linli_core::link::{Frame, Hello, Tier as LinkTier};
use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
use linli_core::schema::Registries;
use linli_core::store::{LogEntry, MemoryStore, Storage};
use linli_node::config::Tier;
use linli_node::link::NODE_HEADER;
use linli_proto::v1;
use linli_proto::v1::replication_client::ReplicationClient;
use serde_json::json;
use std::time::Duration;
use tokio_stream::wrappers::ReceiverStream;

const STREET: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
const ROGUE: &str = "lg-s1-c2";
const WAIT: Duration = Duration::from_secs(20);

/// A community's log, made offline: what a (misbehaving) child would ship.
fn log_of(owner: &str, writes: usize) -> Vec<LogEntry> {
    let node = NodeId::new(owner).unwrap();
    let config = ReplicaConfig::new(node, Scope::only(owner));
    let mut replica = StoredReplica::open(config, Registries::defaults().unwrap(), MemoryStore::new()).unwrap();
    for i in 0..writes {
        replica.write(request(owner, i), NOW_MS as u64).unwrap();
    }
    replica.store.log_after(0, usize::MAX).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_writing_another_communitys_document_is_refused_and_the_link_survives() {
    let dir = tempfile::tempdir().unwrap();
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]), any()).await;
    let up = parent(DISTRICT, district.addr);
    let street = start(config(STREET, Tier::Street, dir.path().join("s"), up, &[C1, ROGUE]), any()).await;

    // The rogue holds a certificate of the district's CA for its own id.
    let mut client = ReplicationClient::new(channel_as(&street, ROGUE).await);
    let (out, frames) = tokio::sync::mpsc::channel::<v1::Frame>(16);
    let mut request = tonic::Request::new(ReceiverStream::new(frames));
    request.metadata_mut().insert(NODE_HEADER, ROGUE.parse().unwrap());
    let mut inbound = client.link(request).await.unwrap().into_inner();
    let Frame::Hello(_) = Frame::try_from(inbound.message().await.unwrap().unwrap()).unwrap() else {
        panic!("the street did not say Hello first");
    };
    let hello = Hello {
        node: NodeId::new(ROGUE).unwrap(),
        tier: LinkTier::Community,
        log_id: "rogue.1".into(),
        log_end: 2,
        log_trimmed: 0,
        checkpoint: None,
        // Its subtree is itself (claiming more refuses the Hello: see `hostile.rs`).
        subtree: [ROGUE.to_string()].into(),
    };
    out.send(v1::Frame::from(&Frame::Hello(hello))).await.unwrap();
    let mut foreign = log_of(C1, 1).remove(0);
    foreign.seq = 1;
    let mut own = log_of(ROGUE, 1).remove(0);
    own.seq = 2;
    let (foreign_doc, own_doc) = (foreign.doc.clone(), own.doc.clone());
    out.send(v1::Frame::from(&Frame::Batch { entries: vec![foreign, own], through: 2, fingerprint: 0 })).await.unwrap();

    let mut refused = None;
    let mut acked = None;
    while acked.is_none() {
        match Frame::try_from(inbound.message().await.unwrap().unwrap()).unwrap() {
            Frame::Refusal { seq, doc, reason } => refused = Some((seq, doc, reason)),
            Frame::Ack { through, .. } => acked = Some(through),
            _ => {}
        }
    }
    let (seq, doc, reason) = refused.expect("a refusal before the ack");
    assert_eq!((seq, doc.as_str()), (1, foreign_doc.to_string().as_str()));
    assert!(reason.contains("not in the subtree of `lg-s1-c2`"), "{reason}");
    assert_eq!(acked, Some(2), "the good entry of the same batch applied");
    let held = docs(&street).await;
    assert!(held.contains_key(&own_doc.to_string()), "the rogue's own record was not applied");
    assert!(!held.contains_key(&foreign_doc.to_string()), "the foreign document was applied");
    assert_eq!(street.running.links.get(ROGUE).map(|s| s.refused_here), Some(1));
    drop(out);
    drop((street, district));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_reconnect_with_1000_documents_costs_one_exchange_of_a_few_bytes() {
    let mut tree = Tree::start(&[(STREET, &[C1])]).await;
    // 1,000 documents: one request in each of 1,000 monthly shards (a month is 31 days
    // here, so no two land in the same calendar month).
    let month_ms = 31 * 24 * 3_600_000i64;
    let mut last = None;
    for i in 0..1000 {
        let mut write = request(C1, i);
        for op in write.ops.iter_mut() {
            if let linli_core::write::FieldOp::Set { field, value } = op
                && field == "reported_at"
            {
                *value = json!(NOW_MS + i as i64 * month_ms);
            }
        }
        last = Some(write_ok(tree.node(C1), write).await);
    }
    assert_eq!(docs(tree.node(C1)).await.len(), 1000);
    let last = last.unwrap();
    eventually("everything at the street", WAIT, || async { get(tree.node(STREET), &last).await.is_some() }).await;
    eventually("the street acknowledged everything", WAIT, || async {
        let status = tree.node(C1).running.links.get(STREET).unwrap_or_default();
        status.acked_through == *tree.node(C1).engine().log_end().borrow()
    })
    .await;
    // Let the skipped-entries flush and acks settle, then reconnect an idle link.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sessions = tree.node(C1).running.links.get(STREET).unwrap().sessions;
    tree.proxy(C1).cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = tree.proxy(C1).bytes();
    tree.proxy(C1).heal();
    eventually("the link is back", WAIT, || async {
        tree.node(C1).running.links.get(STREET).is_some_and(|s| s.connected && s.sessions > sessions)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bytes = tree.proxy(C1).bytes() - before;
    eprintln!("idle reconnect, 1,000 documents: {bytes} bytes on the wire, both ways");
    assert!(bytes <= 4096, "an idle reconnect with 1,000 documents cost {bytes} bytes on the wire");
    assert_eq!(tree.node(STREET).running.links.get(C1).unwrap().repairs, 0);
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stream_naming_a_connected_child_cuts_nothing_and_is_closed_when_it_stays_silent() {
    let mut tree = Tree::start(&[(STREET, &[C1])]).await;
    let first = write_ok(tree.node(C1), request(C1, 0)).await;
    eventually("the child's link is up", WAIT, || async { get(tree.node(STREET), &first).await.is_some() }).await;
    let sessions = tree.node(STREET).running.links.get(C1).expect("the child's link").sessions;

    // A stream names the child (a half-open reconnect, a stray client) and says nothing.
    let mut client = ReplicationClient::new(channel_as(tree.node(STREET), C1).await);
    let (_out, frames) = tokio::sync::mpsc::channel::<v1::Frame>(1);
    let mut call = tonic::Request::new(ReceiverStream::new(frames));
    call.metadata_mut().insert(NODE_HEADER, C1.parse().unwrap());
    let mut stray = client.link(call).await.unwrap().into_inner();
    let said = Frame::try_from(stray.message().await.unwrap().unwrap()).unwrap();
    assert!(matches!(said, Frame::Hello(_)), "the street did not say Hello first: {said:?}");

    // The live session goes on: a write made now arrives through it, not a new one.
    let second = write_ok(tree.node(C1), request(C1, 1)).await;
    eventually("a write through the live session", WAIT, || async { get(tree.node(STREET), &second).await.is_some() })
        .await;
    // The silent stream is closed once its Hello is late.
    let ended = tokio::time::timeout(WAIT, stray.message()).await.expect("a silent stream stayed open");
    assert!(!matches!(ended, Ok(Some(_))), "the silent stream was sent more than a Hello: {ended:?}");
    let after = tree.node(STREET).running.links.get(C1).expect("the child's link");
    assert_eq!(after.sessions, sessions, "the stray stream cut the child's live session");
    assert!(after.connected);
    tree.stop_all().await;
}

async fn write_ok(node: &Node, write: linli_core::write::Write) -> linli_core::ids::RecordKey {
    node.engine().write_async(write).await.expect("write").key
}
