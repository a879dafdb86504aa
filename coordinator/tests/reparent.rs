//! Re-parenting: a community moved to another street keeps its documents; the new
//! street receives them, the old one stops counting them, the district counts once.

mod common;

use common::*;
use linli_core::schema::Registries;
use linli_core::views::Views;
use linli_node::config::Transport;
use linli_node::server;
use std::time::Duration;

const S1: &str = "lg-s1";
const S2: &str = "lg-s2";
const C1: &str = "lg-s1-c1";
const MOVED: &str = "lg-s1-c2";
const C3: &str = "lg-s2-c3";
const WAIT: Duration = Duration::from_secs(30);

fn requests_of(views: &Views, owner: &str) -> i64 {
    views.counts.iter().filter(|(key, _)| key.community == owner && key.registry == "requests").map(|(_, n)| n).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_community_moved_to_another_street_is_counted_once() {
    let mut tree = Tree::start(&[(S1, &[C1, MOVED]), (S2, &[C3])]).await;
    let mut keys = Vec::new();
    for i in 0..8 {
        keys.push(write(tree.node(MOVED), request(MOVED, i)).await.key);
    }
    write(tree.node(C1), request(C1, 0)).await;
    for key in &keys {
        eventually("the moving community's records at the district", WAIT, || async {
            get(tree.node(DISTRICT), key).await.is_some()
        })
        .await;
    }
    assert_eq!(requests_of(&tree.node(S1).engine().views_async().await.unwrap(), MOVED), 8);

    // Left out of the old street's config without `--forget` (a typo, as far as the
    // street knows): it refuses to start, and keeps the community's documents.
    let mut s1 = tree.nodes.remove(S1).expect("the old street");
    s1.stop().await;
    let mut typo = s1.config.clone();
    typo.children.retain(|child| child != MOVED);
    let listener = tokio::net::TcpListener::bind(any()).await.expect("bind");
    let started = server::run(typo, Registries::defaults().expect("registries"), listener, async {}, None).await;
    let refused = started.expect_err("a street missing a child without --forget started").to_string();
    assert!(
        refused.contains(MOVED) && refused.contains("--forget"),
        "the refusal names the child and the way out: {refused}"
    );
    tree.nodes.insert(S1.into(), s1);
    tree.restart(S1, |_| {}).await;
    assert!(docs(tree.node(S1)).await.keys().any(|doc| doc.starts_with(MOVED)), "a refused start forgot documents");

    // The move: config changes and restarts. The new street accepts it first; the old
    // one is told the community left for good.
    tree.restart(S2, |c| c.children.push(MOVED.into())).await;
    tree.restart(S1, |c| {
        c.children.retain(|child| child != MOVED);
        c.forget = vec![MOVED.into()];
    })
    .await;
    tree.nodes.get_mut(MOVED).unwrap().stop().await;
    let proxy = Proxy::start(tree.node(S2).addr).await.expect("proxy");
    let url = format!("https://{}", proxy.addr());
    tree.proxies.insert(MOVED.into(), proxy);
    tree.restart(MOVED, |c| {
        c.parent = Some(url);
        c.transport = Transport::MutualTls { files: certs().files(MOVED), parent_id: Some(S2.into()) };
    })
    .await;
    // Written after the move: it must reach the district through the new street.
    let after = write(tree.node(MOVED), request(MOVED, 8)).await.key;
    keys.push(after.clone());

    for key in &keys {
        eventually("the new street holds every record of the moved community", WAIT, || async {
            get(tree.node(S2), key).await.is_some()
        })
        .await;
    }
    eventually("the write after the move at the district", WAIT, || async {
        get(tree.node(DISTRICT), &after).await.is_some()
    })
    .await;
    let old = tree.node(S1).engine().views_async().await.unwrap();
    assert_eq!(requests_of(&old, MOVED), 0, "the old street still counts the moved community");
    assert!(!docs(tree.node(S1)).await.keys().any(|doc| doc.starts_with(MOVED)), "the old street keeps its documents");
    assert_eq!(requests_of(&old, C1), 1, "the old street forgot a community that stayed");
    assert_eq!(requests_of(&tree.node(S2).engine().views_async().await.unwrap(), MOVED), 9);
    let district = tree.node(DISTRICT).engine().views_async().await.unwrap();
    assert_eq!(requests_of(&district, MOVED), 9, "the district counts each record once");
    for id in [S1, S2, DISTRICT] {
        assert!(views_match_recount(tree.node(id)).await, "{id}: views differ from a recount");
    }
    tree.stop_all().await;
}
