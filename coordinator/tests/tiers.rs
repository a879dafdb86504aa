//! The tiers over gRPC: 1 district, 2 streets, 4 communities, real servers.

mod common;

use common::*;
use linli_core::write::Write;
use serde_json::json;
use std::time::Duration;

const S1: &str = "lg-s1";
const S2: &str = "lg-s2";
const C1: &str = "lg-s1-c1";
const C2: &str = "lg-s1-c2";
const C3: &str = "lg-s2-c3";
const C4: &str = "lg-s2-c4";
const WAIT: Duration = Duration::from_secs(20);

async fn tree() -> Tree {
    Tree::start(&[(S1, &[C1, C2]), (S2, &[C3, C4])]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_flow_up_dispatches_and_broadcasts_flow_down() {
    let mut tree = tree().await;
    let mut keys = Vec::new();
    for community in [C1, C2, C3, C4] {
        for i in 0..5 {
            keys.push(write(tree.node(community), request(community, i)).await.key);
        }
    }
    // Up: every community's records are readable at the district.
    eventually("every record at the district", WAIT, || async {
        for key in &keys {
            if get(tree.node(DISTRICT), key).await.is_none() {
                return false;
            }
        }
        true
    })
    .await;

    // Down: the street dispatches a community's request; the community sees it.
    let request = keys[0].clone();
    let dispatch = Write::set(request.clone(), &[("status", json!("dispatched")), ("assignee", json!("网格员 王"))]);
    write(tree.node(S1), dispatch).await;
    eventually("the dispatch at the community", WAIT, || async {
        get(tree.node(C1), &request).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;

    // The district publishes a service site to all its communities.
    let menu = Write::create(
        DISTRICT,
        "sites",
        &[("kind", json!("district_centre")), ("name", json!("龙岗区党群服务中心")), ("open_24h", json!(true))],
    );
    let site = write(tree.node(DISTRICT), menu).await.key;
    for community in [C1, C2, C3, C4] {
        eventually("the district's site at every community", WAIT, || async {
            get(tree.node(community), &site).await.is_some()
        })
        .await;
    }

    // A community holds its own records and broadcasts, never another community's.
    let at_c2 = docs(tree.node(C2)).await;
    assert!(at_c2.keys().all(|doc| doc.starts_with(C2) || doc.starts_with(DISTRICT)), "{:?}", at_c2.keys());
    let at_s2 = docs(tree.node(S2)).await;
    assert!(!at_s2.keys().any(|doc| doc.starts_with(S1)), "street 2 holds street 1's documents");

    // Everyone agrees with what it shares, and views equal a recount everywhere.
    eventually("the dispatch at the district", WAIT, || async {
        get(tree.node(DISTRICT), &request).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;
    for (child, parent) in [(C1, S1), (C2, S1), (C3, S2), (C4, S2), (S1, DISTRICT), (S2, DISTRICT)] {
        eventually("child and parent agree", WAIT, || holds_same(tree.node(child), tree.node(parent))).await;
    }
    for node in tree.nodes.values() {
        assert!(views_match_recount(node).await, "{}: views differ from a recount", node.config.id);
    }

    // The street's metrics show both its children's links and the district's, up.
    let street = tree.node(S1);
    let metrics = linli_node::metrics::render(street.engine(), &street.running.links, &street.running.refusals, 0);
    for peer in [C1, C2, DISTRICT] {
        let line = format!("linli_link_connected{{node=\"{S1}\",peer=\"{peer}\"}} 1");
        assert!(metrics.contains(&line), "no `{line}` in\n{metrics}");
    }
    assert!(metrics.contains("linli_link_backlog_entries{"), "{metrics}");
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_community_converges_and_loses_no_acknowledged_write() {
    let mut tree = tree().await;
    let shared = write(tree.node(C1), request(C1, 0)).await.key;
    eventually("the request at the district", WAIT, || async { get(tree.node(DISTRICT), &shared).await.is_some() })
        .await;

    tree.proxy(C1).cut();
    // Both sides keep writing, including concurrent edits of the same record.
    let mut acknowledged = Vec::new();
    for i in 1..=20 {
        acknowledged.push(write(tree.node(C1), request(C1, i)).await.key);
    }
    write(tree.node(C1), Write::set(shared.clone(), &[("summary", json!("路灯不亮, 已拍照"))])).await;
    write(tree.node(S1), Write::set(shared.clone(), &[("status", json!("dispatched")), ("assignee", json!("李"))]))
        .await;
    write(tree.node(DISTRICT), Write::set(shared.clone(), &[("deadline", json!(NOW_MS + 3_600_000))])).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(get(tree.node(S1), &acknowledged[0]).await.is_none(), "the cut link still carried changes");

    tree.proxy(C1).heal();
    for key in &acknowledged {
        eventually("every write made while cut off, at the district", WAIT, || async {
            get(tree.node(DISTRICT), key).await.is_some()
        })
        .await;
    }
    let merged = |r: &serde_json::Value| {
        r["summary"] == "路灯不亮, 已拍照" && r["status"] == "dispatched" && r["deadline"] == json!(NOW_MS + 3_600_000)
    };
    for node in [C1, S1, DISTRICT] {
        eventually("all three edits merged", WAIT, || async {
            get(tree.node(node), &shared).await.is_some_and(|r| merged(&r))
        })
        .await;
    }
    eventually("community and street agree", WAIT, || holds_same(tree.node(C1), tree.node(S1))).await;
    eventually("street and district agree", WAIT, || holds_same(tree.node(S1), tree.node(DISTRICT))).await;
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_street_comes_back_and_catches_up_both_ways() {
    let mut tree = tree().await;
    let before = write(tree.node(C3), request(C3, 0)).await.key;
    eventually("before, at the district", WAIT, || async { get(tree.node(DISTRICT), &before).await.is_some() }).await;
    tree.nodes.get_mut(S2).expect("street").stop().await;
    let mut during = Vec::new();
    for i in 1..=30 {
        during.push(write(tree.node(C3), request(C3, i)).await.key);
    }
    write(tree.node(DISTRICT), Write::set(before.clone(), &[("status", json!("dispatched"))])).await;
    tree.restart(S2, |_| {}).await;
    for key in &during {
        eventually("writes made while the street was down, at the district", WAIT, || async {
            get(tree.node(DISTRICT), key).await.is_some()
        })
        .await;
    }
    eventually("the district's dispatch at the community", WAIT, || async {
        get(tree.node(C3), &before).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;
    tree.stop_all().await;
}
