//! "Where is my write?": a write that asks to be answered once the district holds it,
//! with the tree whole and with the street cut off from the district; and `linlictl
//! where` in each case.

mod common;

use common::*;
use linli_proto::v1;
use linli_proto::v1::registry_client::RegistryClient;
use std::time::{Duration, Instant};

const STREET: &str = "lg-pingdi";
const COMMUNITY: &str = "lg-pingdi-pingdi";

fn waiting(i: usize, at: v1::Tier, wait_ms: u64) -> v1::WriteRequest {
    v1::WriteRequest { durable_at: at as i32, wait_ms: Some(wait_ms), ..v1::WriteRequest::from(&request(COMMUNITY, i)) }
}

/// Runs linlictl at the community, as its staff, with `command`: exit code, stdout, stderr.
async fn linlictl(tree: &Tree, command: &[&str]) -> (u8, String, String) {
    let node = tree.node(COMMUNITY);
    let caller = caller_for(&node.config);
    certs().files(&caller);
    let dir = certs().dir().display().to_string();
    let addr = format!("https://{}", node.addr);
    let head = ["linlictl", "--addr", &addr, "--tls-dir", &dir, "--as", &caller, "--server-id", COMMUNITY];
    let args: Vec<String> = head.iter().chain(command).map(|s| s.to_string()).collect();
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = linli_ctl::run_args(args, &mut out, &mut err);
        (code, out, err)
    })
    .await
    .expect("join");
    (code, String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

/// `linlictl where <key>` at the community, as JSON.
async fn where_is(tree: &Tree, key: &str) -> serde_json::Value {
    let (code, out, err) = linlictl(tree, &["--format", "json", "where", key]).await;
    assert_eq!(code, 0, "linlictl where failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The `durable` column of `where`'s tiers table, by tier.
fn durable(answer: &serde_json::Value) -> Vec<(String, bool)> {
    answer["tiers"]
        .as_array()
        .unwrap_or_else(|| panic!("no tiers in {answer}"))
        .iter()
        .map(|row| (row["tier"].as_str().unwrap_or_default().to_string(), row["durable"].as_bool().unwrap_or(false)))
        .collect()
}

fn holds(tiers: &[(&str, bool)]) -> Vec<(String, bool)> {
    tiers.iter().map(|(t, d)| (t.to_string(), *d)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_waits_for_the_district_and_where_shows_it_held_or_stuck() {
    let mut tree = Tree::start(&[(STREET, &[COMMUNITY])]).await;
    let mut client = RegistryClient::new(channel(tree.node(COMMUNITY)).await);

    // The tree whole: answered once the district holds it.
    let reply = client.write(waiting(1, v1::Tier::District, 20_000)).await.expect("answered").into_inner();
    let key = linli_core::ids::RecordKey::parse(&reply.record_key).expect("key");
    assert!(get(tree.node(DISTRICT), &key).await.is_some(), "answered before the district held it");
    let answer = where_is(&tree, &reply.record_key).await;
    assert_eq!(durable(&answer), holds(&[("community", true), ("street", true), ("district", true)]), "{answer}");
    assert!(answer["change"][0]["waits_on"].is_null(), "{answer}");

    // The street cut off from the district: DEADLINE_EXCEEDED, the write durable here.
    tree.proxy(STREET).cut();
    let started = Instant::now();
    let refused = client.write(waiting(2, v1::Tier::District, 1_500)).await.expect_err("the district is away");
    assert_eq!(refused.code(), tonic::Code::DeadlineExceeded, "{refused:?}");
    assert!(started.elapsed() >= Duration::from_millis(1_500));
    assert!(refused.message().contains("the link from the street `lg-pingdi` up to the district"), "{refused:?}");
    // The same from linlictl: exit 3, and the line says where it waits.
    let write = ["write", "--durable-at", "district", "--wait-ms", "1000", "create", "--owner", COMMUNITY];
    let fields = [
        "--registry",
        "requests",
        "category=environment",
        "channel=qr_code",
        "grid=g1",
        "summary=路灯",
        "reported_at=1795320000000",
        "deadline=1795338000000",
    ];
    let command: Vec<&str> = write.iter().chain(&fields).copied().collect();
    let (code, _, err) = linlictl(&tree, &command).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("up to the district"), "{err}");
    // It asked for the street, though: that is answered.
    let at_street = client.write(waiting(3, v1::Tier::Street, 20_000)).await.expect("the street holds it");
    let stuck = at_street.into_inner().record_key;
    let answer = where_is(&tree, &stuck).await;
    assert_eq!(durable(&answer), holds(&[("community", true), ("street", true), ("district", false)]), "{answer}");
    let waits = answer["change"][0]["waits_on"].as_str().unwrap_or_default().to_string();
    assert!(waits.contains("up to the district"), "{answer}");

    // The community cut off too: stuck on its own link.
    tree.proxy(COMMUNITY).cut();
    let refused = client.write(waiting(4, v1::Tier::Street, 1_000)).await.expect_err("the street is away");
    assert_eq!(refused.code(), tonic::Code::DeadlineExceeded);
    eventually("the community sees its link down", Duration::from_secs(10), || async {
        let node = tree.node(COMMUNITY);
        !node.running.links.all().values().any(|s| s.parent && s.connected)
    })
    .await;
    let local = linli_core::ids::RecordKey::parse(
        &client.write(v1::WriteRequest::from(&request(COMMUNITY, 5))).await.expect("written").into_inner().record_key,
    )
    .expect("key");
    let answer = where_is(&tree, &local.to_string()).await;
    assert_eq!(durable(&answer), holds(&[("community", true), ("street", false), ("district", false)]), "{answer}");
    let waits = answer["change"][0]["waits_on"].as_str().unwrap_or_default().to_string();
    assert!(waits.contains("down since"), "{answer}");

    // Healed: everything written while cut off reaches the district, and `where` says so.
    tree.proxy(COMMUNITY).heal();
    tree.proxy(STREET).heal();
    eventually("every write at the district", Duration::from_secs(20), || async {
        get(tree.node(DISTRICT), &local).await.is_some()
    })
    .await;
    eventually("where shows the district holding it", Duration::from_secs(20), || async {
        durable(&where_is(&tree, &local.to_string()).await).iter().all(|(_, held)| *held)
    })
    .await;
    tree.stop_all().await;
}
