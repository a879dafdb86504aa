//! Operators' roles and scopes, over real TLS connections: every `Registry` and
//! `Query` call is checked against the role and the scope its certificate names
//! (`<role>--<scope>--<name>`). A refusal says who, on what and by which rule, is
//! counted, and changes nothing; the calls the role allows are served meanwhile.

mod common;

use common::*;
use linli_core::ids::RecordKey;
use linli_core::write::Write;
use linli_node::config::Tier;
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::registry_client::RegistryClient;
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;

const S1: &str = "lg-s1";
const S2: &str = "lg-s2";
const C1: &str = "lg-s1-c1";
const C2: &str = "lg-s2-c2";
const PHONE: &str = "13912345678";
const STREET_OPERATOR: &str = "operator--lg-s1--li";
const AUDITOR: &str = "auditor--lg--zhao";

struct Tree {
    _dir: tempfile::TempDir,
    district: Node,
    _street: Node,
    c1: Node,
    /// A request of C1 with the reporter's phone, replicated up.
    key: RecordKey,
}

async fn tree() -> Tree {
    let dir = tempfile::tempdir().expect("dir");
    let district = start(config(DISTRICT, Tier::District, dir.path().join("d"), None, &[S1, S2]), any()).await;
    let street =
        start(config(S1, Tier::Street, dir.path().join("s1"), parent(DISTRICT, district.addr), &[C1]), any()).await;
    let c1 = start(config(C1, Tier::Community, dir.path().join("c1"), parent(S1, street.addr), &[]), any()).await;
    let mut create = request(C1, 0);
    create.ops.extend(Write::create(C1, "requests", &[("reporter_phone", json!(PHONE))]).ops);
    let key = write(&c1, create).await.key;
    eventually("C1's request at the district", std::time::Duration::from_secs(20), || async {
        get(&district, &key).await.is_some()
    })
    .await;
    Tree { _dir: dir, district, _street: street, c1, key }
}

async fn registry(node: &Node, caller: &str) -> RegistryClient<Channel> {
    RegistryClient::new(channel_as(node, caller).await)
}

async fn get_as(node: &Node, caller: &str, key: &RecordKey) -> Result<String, tonic::Status> {
    let reply = registry(node, caller).await.get(v1::GetRequest { record_key: key.to_string() }).await?;
    Ok(reply.into_inner().record_json.unwrap_or_default())
}

async fn write_as(node: &Node, caller: &str, write: &Write) -> Result<v1::WriteReply, tonic::Status> {
    registry(node, caller).await.write(v1::WriteRequest::from(write)).await.map(|r| r.into_inner())
}

fn refused(result: Result<impl std::fmt::Debug, tonic::Status>, caller: &str, rule: &str) -> String {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let message = status.message().to_string();
    assert!(message.contains(&format!("`{caller}`")) && message.contains(&format!("({rule})")), "{message}");
    message
}

fn refusals(node: &Node, rpc: &str, rule: &str) -> u64 {
    node.running.refusals.all().into_iter().find(|((r, u), _)| *r == rpc && *u == rule).map_or(0, |(_, n)| n)
}

/// Finding: an anonymous `Registry.Get` at a community returned the reporter's name
/// and phone. Now only the community's staff read personal fields; the street's
/// operator reads the record without them; others are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn personal_fields_are_read_by_the_communitys_own_staff_only() {
    let t = tree().await;
    let own = get_as(&t.c1, &staff(C1), &t.key).await.expect("staff read");
    assert!(own.contains(PHONE), "the community's staff read the phone: {own}");
    let street = get_as(&t.c1, STREET_OPERATOR, &t.key).await.expect("the street's operator reads");
    assert!(street.contains(&t.key.to_string()) && !street.contains(PHONE), "{street}");
    assert!(!street.contains("reporter_phone"), "{street}");

    let message = refused(get_as(&t.c1, &staff(C2), &t.key).await, &staff(C2), "scope");
    assert!(message.contains(&t.key.to_string()), "names the target: {message}");
    refused(get_as(&t.c1, AUDITOR, &t.key).await, AUDITOR, "role");
    refused(get_as(&t.c1, "operator--lg-s2--wu", &t.key).await, "operator--lg-s2--wu", "scope");
    refused(get_as(&t.c1, S1, &t.key).await, S1, "role");
    assert_eq!(refusals(&t.c1, "Registry.Get", "scope"), 2);
    assert_eq!(refusals(&t.c1, "Registry.Get", "role"), 2);

    // Records pages follow the same rule.
    let page = |caller: &'static str| {
        let node = &t.c1;
        async move {
            let mut client = QueryClient::new(channel_as(node, caller).await);
            let request =
                v1::RecordsRequest { community: C1.into(), registry: "requests".into(), limit: 10, after: None };
            client.records(request).await.map(|r| r.into_inner().records_json.join("\n"))
        }
    };
    let street = page(STREET_OPERATOR).await.expect("the street's operator lists");
    assert!(street.contains(&t.key.to_string()) && !street.contains(PHONE), "{street}");
    refused(page(AUDITOR).await, AUDITOR, "role");
}

/// Finding: an anonymous `Registry.Write` at the district created a request in any
/// community. Now a write needs a role whose scope covers the record, and an
/// operator never writes personal fields; nothing refused is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_needs_a_role_whose_scope_covers_the_record() {
    let t = tree().await;
    let in_c2 = request(C2, 1);
    let message = refused(write_as(&t.district, STREET_OPERATOR, &in_c2).await, STREET_OPERATOR, "scope");
    assert!(message.contains(&format!("`{C2}` is not in the subtree of `{S1}`")), "{message}");
    refused(write_as(&t.district, S1, &in_c2).await, S1, "role");
    refused(write_as(&t.district, AUDITOR, &request(C1, 2)).await, AUDITOR, "role");
    let personal = Write::set(t.key.clone(), &[("reporter_phone", json!("13800000000"))]);
    refused(write_as(&t.district, STREET_OPERATOR, &personal).await, STREET_OPERATOR, "personal");
    refused(
        write_as(&t.c1, &staff(C2), &Write::set(t.key.clone(), &[("assignee", json!("x"))])).await,
        &staff(C2),
        "scope",
    );
    let docs = docs(&t.district).await;
    assert!(!docs.keys().any(|doc| doc.starts_with(C2)), "a refused write created {docs:?}");

    // The calls the roles allow are served: the street's operator dispatches, the
    // community's staff writes the phone at its own node.
    let dispatch = Write::set(t.key.clone(), &[("status", json!("dispatched"))]);
    write_as(&t.district, STREET_OPERATOR, &dispatch).await.expect("the street's operator dispatches");
    write_as(&t.c1, &staff(C1), &personal).await.expect("the staff writes the phone");
    assert_eq!(refusals(&t.district, "Registry.Write", "scope"), 1);
}

/// Aggregates answer for the node's whole subtree: an operator or auditor of the
/// node (or of its parent) asks; a street's operator at the district is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aggregates_are_asked_at_the_node_of_the_callers_scope() {
    let t = tree().await;
    let ask = |caller: &'static str| {
        let node = &t.district;
        async move {
            let mut client = QueryClient::new(channel_as(node, caller).await);
            let query = v1::query_request::Query::Open(v1::OpenQuery::default());
            let request =
                v1::QueryRequest { at_ms: Some(NOW_MS), filter: Some(Default::default()), query: Some(query) };
            client.ask(request).await.map(|r| r.into_inner())
        }
    };
    ask(AUDITOR).await.expect("the district's auditor asks");
    ask(OPERATOR).await.expect("the district's operator asks");
    let message = refused(ask(STREET_OPERATOR).await, STREET_OPERATOR, "scope");
    assert!(message.contains("ask at the node of your scope"), "{message}");
}
