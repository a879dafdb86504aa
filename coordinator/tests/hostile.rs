//! Hostile peers, over real TLS connections: a community whose certificate was
//! stolen (it is configured at its street, and absent) opens a link and lies. Each
//! lie is refused with a status or a `Refusal` that says what and why, nothing of it
//! is kept, and the honest community of the same street keeps reaching the district.

mod common;

use common::*;
use linli_core::ids::{DocId, NodeId};
use linli_core::link::{Frame, Hello, Tier as LinkTier, tree};
use linli_core::store::{LogEntry, Storage};
use linli_core::write::Write;
use linli_node::config::Tier;
use linli_node::link::NODE_HEADER;
use linli_proto::v1;
use linli_proto::v1::replication_client::ReplicationClient;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const STREET: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
/// Configured at the street, never started: the thief holds its certificate.
const ROGUE: &str = "lg-s1-c2";
/// A community of another street, which the thief claims.
const OUTSIDER: &str = "lg-s9-c1";
const WAIT: Duration = Duration::from_secs(20);

/// A district, a street with `C1` and `ROGUE` configured, and `C1` up and linked.
struct Street {
    _dir: tempfile::TempDir,
    district: Node,
    street: Node,
    c1: Node,
}

async fn street() -> Street {
    let dir = tempfile::tempdir().expect("dir");
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]), any()).await;
    let up = parent(DISTRICT, district.addr);
    let street = start(config(STREET, Tier::Street, dir.path().join("s"), up, &[C1, ROGUE]), any()).await;
    let up = parent(STREET, street.addr);
    let c1 = start(config(C1, Tier::Community, dir.path().join("c1"), up, &[]), any()).await;
    let first = write(&c1, request(C1, 0)).await;
    eventually("C1's first write at the district", WAIT, || async { get(&district, &first.key).await.is_some() }).await;
    Street { _dir: dir, district, street, c1 }
}

/// Opens `Replication.Link` at the street as `ROGUE`, with its certificate, and reads
/// the street's Hello.
async fn rogue_link(street: std::net::SocketAddr) -> (mpsc::Sender<v1::Frame>, Streaming<v1::Frame>) {
    link_as(street, ROGUE, STREET).await
}

/// Opens `Replication.Link` at the server `server_id` on `addr` as the child `id`, with
/// `id`'s certificate, and reads the server's Hello.
async fn link_as(
    addr: std::net::SocketAddr,
    id: &str,
    server_id: &str,
) -> (mpsc::Sender<v1::Frame>, Streaming<v1::Frame>) {
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
        .expect("endpoint")
        .tls_config(certs().client(id, server_id))
        .expect("tls")
        .connect()
        .await
        .expect("connect");
    let mut client = ReplicationClient::new(channel);
    let (out, frames) = mpsc::channel::<v1::Frame>(16);
    let mut request = tonic::Request::new(ReceiverStream::new(frames));
    request.metadata_mut().insert(NODE_HEADER, id.parse().expect("header"));
    let mut inbound = client.link(request).await.expect("link").into_inner();
    let hello = Frame::try_from(inbound.message().await.expect("a frame").expect("a Hello")).expect("frame");
    assert!(matches!(hello, Frame::Hello(_)), "`{server_id}` did not say Hello first: {hello:?}");
    (out, inbound)
}

fn hello(tier: LinkTier, subtree: &[&str]) -> Hello {
    Hello {
        node: NodeId::new(ROGUE).expect("id"),
        tier,
        log_id: "rogue.1".into(),
        log_end: 0,
        log_trimmed: 0,
        checkpoint: None,
        subtree: subtree.iter().map(|s| s.to_string()).collect(),
    }
}

/// Every frame until the stream ends, and the status it ended with.
async fn until_end(inbound: &mut Streaming<v1::Frame>) -> (Vec<Frame>, Option<tonic::Status>) {
    let mut frames = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, inbound.message()).await.expect("the stream stayed open") {
            Ok(Some(frame)) => frames.push(Frame::try_from(frame).expect("frame")),
            Ok(None) => return (frames, None),
            Err(status) => return (frames, Some(status)),
        }
    }
}

/// Finding: a Hello that says `tier = STREET`, `subtree = [another community]` was
/// sent that community's documents, and its claim was persisted and passed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hello_claiming_another_tier_or_another_community_is_refused_and_nothing_is_kept() {
    let s = street().await;
    let sessions = s.street.running.links.get(C1).expect("C1's link").sessions;
    for (claim, says) in [
        (hello(LinkTier::Street, &[ROGUE, C1]), format!("`{ROGUE}` says it is a street")),
        (hello(LinkTier::Community, &[ROGUE, C1]), format!("`{ROGUE}` claims `{C1}`")),
        (hello(LinkTier::Community, &[ROGUE, OUTSIDER]), format!("`{ROGUE}` claims `{OUTSIDER}`")),
    ] {
        let (out, mut inbound) = rogue_link(s.street.addr).await;
        out.send(v1::Frame::from(&Frame::Hello(claim))).await.expect("send");
        let (frames, status) = until_end(&mut inbound).await;
        assert!(frames.is_empty(), "a refused Hello was sent frames: {frames:?}");
        let status = status.expect("the stream ends with a status");
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains(&says), "{}", status.message());
    }
    // Nothing of the claims is kept, nor passed up.
    let kept = s.street.engine().store().expect("store").meta(&tree::subtree_meta_name(ROGUE)).expect("meta");
    assert_eq!(kept, None, "the street kept a refused claim");
    let at_district = s.district.engine().store().expect("store").meta(&tree::subtree_meta_name(STREET)).expect("meta");
    let at_district = tree::decode_owners(at_district.as_deref());
    let configured: std::collections::BTreeSet<String> = [STREET, C1, ROGUE].map(String::from).into();
    assert_eq!(at_district, configured, "the district holds more under the street than its config says");
    // C1's live link was never cut, and carries on.
    let second = write(&s.c1, request(C1, 1)).await;
    eventually("C1's next write at the district", WAIT, || async { get(&s.district, &second.key).await.is_some() })
        .await;
    assert_eq!(s.street.running.links.get(C1).expect("C1's link").sessions, sessions, "C1's session was cut");
}

/// Who is below whom comes from the district's side: with `[subtrees]` listing the
/// street's communities, a Hello of the street (its certificate stolen) that claims
/// one more is refused naming the claim and the config, and nothing of it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_street_claiming_a_community_the_districts_config_does_not_list_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut config = config(DISTRICT, Tier::District, dir.path().join("d"), None, &[STREET]);
    config.subtrees = [(STREET.to_string(), [C1.to_string(), ROGUE.to_string()].into())].into();
    let district = start(config, any()).await;
    let (out, mut inbound) = link_as(district.addr, STREET, DISTRICT).await;
    let claim = Hello {
        node: NodeId::new(STREET).expect("id"),
        tier: LinkTier::Street,
        subtree: [STREET, C1, OUTSIDER].map(String::from).into(),
        ..hello(LinkTier::Street, &[])
    };
    out.send(v1::Frame::from(&Frame::Hello(claim))).await.expect("send");
    let (frames, status) = until_end(&mut inbound).await;
    assert!(frames.is_empty(), "{frames:?}");
    let status = status.expect("a status");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let says = format!("`{STREET}` claims `{OUTSIDER}`");
    assert!(status.message().contains(&says) && status.message().contains("config does not put it"), "{status:?}");
    let kept = district.engine().store().expect("store").meta(&tree::subtree_meta_name(STREET)).expect("meta");
    assert_eq!(kept, None, "the district kept a refused claim");
}

/// Finding: one `LogBatch` of 200,000 tiny entries for made-up documents stalled the
/// street for minutes (no link answered, another community's write did not reach the
/// district) and left ~70 MB of documents no rule could produce on its disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_200000_entries_is_refused_whole_while_the_honest_community_reaches_the_district() {
    let s = street().await;
    let flood = |round: u64| {
        let entries: Vec<LogEntry> = (1..=200_000u64)
            .map(|seq| LogEntry {
                seq,
                doc: DocId::new(ROGUE, "requests", &format!("made-up-{round}-{seq}")).expect("doc"),
                origin: None,
                changes: vec![vec![0x85, 0x6f, 0x4a, 0x83]],
                traces: Vec::new(),
            })
            .collect();
        v1::Frame::from(&Frame::Batch { entries, through: 200_000, fingerprint: 0 })
    };
    // The thief floods again and again (it reconnects after each refusal) while C1
    // writes; each of C1's writes must reach the district as usual.
    let thief = {
        let street = s.street.addr;
        tokio::spawn(async move {
            let mut refusals = Vec::new();
            for round in 0..5 {
                let (out, mut inbound) = rogue_link(street).await;
                out.send(v1::Frame::from(&Frame::Hello(hello(LinkTier::Community, &[ROGUE])))).await.expect("hello");
                out.send(flood(round)).await.expect("flood");
                refusals.push(until_end(&mut inbound).await);
            }
            refusals
        })
    };
    let mut latencies_ms = Vec::new();
    for i in 1..=10 {
        let started = std::time::Instant::now();
        let written = write(&s.c1, request(C1, i)).await;
        eventually("C1's write at the district during the flood", WAIT, || async {
            get(&s.district, &written.key).await.is_some()
        })
        .await;
        latencies_ms.push(started.elapsed().as_millis());
    }
    let refusals = thief.await.expect("thief");
    for (frames, status) in &refusals {
        assert!(frames.is_empty(), "the flood was answered with frames: {frames:?}");
        let status = status.as_ref().expect("a status");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("200000 entries") && status.message().contains("4096"), "{status:?}");
    }
    latencies_ms.sort();
    eprintln!("C1's writes reached the district during the flood in {latencies_ms:?} ms (sorted)");
    // Not one made-up document was kept.
    let held = docs(&s.street).await;
    let rogue: Vec<&String> = held.keys().filter(|doc| doc.starts_with(ROGUE)).collect();
    assert!(rogue.is_empty(), "the street holds {} of the rogue's documents", rogue.len());
}

/// The thief's own replica (as the absent community would have it): its log, one
/// entry per document, with a task, a request of November and one of October.
fn thief_log() -> Vec<LogEntry> {
    use linli_core::replica::{ReplicaConfig, Scope, StoredReplica};
    let config = ReplicaConfig::new(NodeId::new(ROGUE).expect("id"), Scope::only(ROGUE));
    let registries = linli_core::schema::Registries::defaults().expect("registries");
    let mut thief = StoredReplica::open(config, registries, linli_core::store::MemoryStore::new()).expect("replica");
    let now_ms = NOW_MS as u64;
    let task = [("service", json!("meal_delivery")), ("summary", json!("送餐")), ("ordered_at", json!(NOW_MS))];
    thief.write(Write::create(ROGUE, "tasks", &task), now_ms).expect("task");
    thief.write(request(ROGUE, 0), now_ms).expect("request");
    let mut october = request(ROGUE, 1);
    october.ops.retain(|op| op.field() != "reported_at");
    october
        .ops
        .push(linli_core::write::FieldOp::Set { field: "reported_at".into(), value: json!(NOW_MS - 40 * 86_400_000) });
    thief.write(october, now_ms).expect("october's request");
    thief.store.log_after(0, 100).expect("log")
}

/// One change on top of `changes`, under `actor`, putting `value` on the first record's `field`.
fn forged(changes: &[Vec<u8>], actor: &str, field: &str, value: &str) -> Vec<u8> {
    use automerge::transaction::{CommitOptions, Transactable};
    use automerge::{ActorId, AutoCommit, ROOT, ReadDoc};
    let mut doc = AutoCommit::load(linli_core::doc::genesis_bytes()).expect("genesis");
    for change in changes {
        doc.load_incremental(change).expect("change");
    }
    doc.set_actor(ActorId::from(actor.as_bytes()));
    let (_, records) = doc.get(ROOT, "records").expect("get").expect("records");
    let (_, record) = doc.get(&records, 0).expect("get").expect("a record");
    doc.put(&record, field, value).expect("put");
    doc.commit_with(CommitOptions::default().with_time(NOW_MS));
    doc.get_last_local_change().expect("change").raw_bytes().to_vec()
}

/// Item 3 over the wire: a batch with a change under the street's own actor and one
/// that carries a personal field; each document is refused with a `Refusal` naming
/// it and the rule, the honest document of the batch applies, and the batch is acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_changes_are_refused_naming_the_rule_and_the_rest_of_the_batch_applies() {
    let s = street().await;
    let mut entries = thief_log();
    assert_eq!(entries.len(), 3, "a task and two requests: {entries:?}");
    let street_actor = format!("{STREET}.1f");
    let (task, november, october) = (entries[0].doc.clone(), entries[1].doc.clone(), entries[2].doc.clone());
    let forged_status = forged(&entries[0].changes, &street_actor, "dispatched_by", "lg-s1");
    entries[0].changes.push(forged_status);
    let forged_phone = forged(&entries[2].changes, &format!("{ROGUE}.9"), "reporter_phone", "13912345678");
    entries[2].changes.push(forged_phone);
    let (out, mut inbound) = rogue_link(s.street.addr).await;
    out.send(v1::Frame::from(&Frame::Hello(hello(LinkTier::Community, &[ROGUE])))).await.expect("hello");
    out.send(v1::Frame::from(&Frame::Batch { entries, through: 3, fingerprint: 0 })).await.expect("batch");
    let mut refusals = Vec::new();
    loop {
        let frame = tokio::time::timeout(WAIT, inbound.message()).await.expect("an answer").expect("a frame");
        match Frame::try_from(frame.expect("the stream is open")).expect("frame") {
            Frame::Refusal { seq, doc, reason } => refusals.push((seq, doc, reason)),
            Frame::Ack { through, .. } => {
                assert_eq!(through, 3, "the batch is acked whole");
                break;
            }
            _ => {}
        }
    }
    refusals.sort();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    let (seq, doc, reason) = &refusals[0];
    assert_eq!((*seq, doc.as_str()), (1, task.to_string().as_str()));
    assert!(reason.contains("actor of `lg-s1`"), "{reason}");
    let (seq, doc, reason) = &refusals[1];
    assert_eq!((*seq, doc.as_str()), (3, october.to_string().as_str()));
    assert!(reason.contains("`reporter_phone` is personal"), "{reason}");
    let held = docs(&s.street).await;
    assert!(held.contains_key(&november.to_string()), "the honest document of the batch applied");
    assert!(
        !held.contains_key(&task.to_string()) && !held.contains_key(&october.to_string()),
        "a refused one was kept"
    );
}

/// Finding: one client could take all 64 of a server's watches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_holds_at_most_its_share_of_watches_and_another_is_still_served() {
    use linli_node::server::callers::WATCHES_PER_CALLER_MAX;
    use linli_proto::v1::query_client::QueryClient;
    use linli_proto::v1::query_request::Query as Q;
    let s = street().await;
    let open = || v1::QueryRequest { at_ms: None, filter: None, query: Some(Q::Open(v1::OpenQuery::default())) };
    let mut greedy = QueryClient::new(channel(&s.district).await);
    let mut held = Vec::new();
    for _ in 0..WATCHES_PER_CALLER_MAX {
        held.push(greedy.watch(open()).await.expect("a watch within the bound").into_inner());
    }
    let refused = greedy.watch(open()).await.expect_err("one watch too many");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains(&format!("`{OPERATOR}` already holds {WATCHES_PER_CALLER_MAX} watches")));
    // Another caller is served meanwhile.
    let mut other = QueryClient::new(channel_as(&s.district, "auditor--lg--other").await);
    let mut watch = other.watch(open()).await.expect("another caller's watch").into_inner();
    watch.message().await.expect("first answer").expect("an answer");
    drop(held);
}
