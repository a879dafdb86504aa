//! The repair path: a street that lost its disk is rebuilt from its children and the
//! district by Automerge's sync protocol, then the fast path resumes.

mod common;

use common::*;
use linli_core::write::Write;
use serde_json::json;
use std::time::Duration;

const S1: &str = "lg-s1";
const C1: &str = "lg-s1-c1";
const C2: &str = "lg-s1-c2";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_street_is_rebuilt_from_its_children_and_the_district() {
    let mut tree = Tree::start(&[(S1, &[C1, C2])]).await;
    let mut keys = Vec::new();
    for community in [C1, C2] {
        for i in 0..10 {
            keys.push(write(tree.node(community), request(community, i)).await.key);
        }
    }
    // The street's own dispatch, which only it wrote: it must come back too. It can
    // dispatch only a request it has received.
    eventually("the request at its street", WAIT, || async { get(tree.node(S1), &keys[0]).await.is_some() }).await;
    write(tree.node(S1), Write::set(keys[0].clone(), &[("status", json!("dispatched"))])).await;
    for key in &keys {
        eventually("every record at the district", WAIT, || async { get(tree.node(DISTRICT), key).await.is_some() })
            .await;
    }
    eventually("the dispatch at the district", WAIT, || async {
        get(tree.node(DISTRICT), &keys[0]).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;
    // C1 must hold the dispatch (and so a checkpoint of the street's log) before the
    // street loses its disk; otherwise its link has nothing to repair.
    eventually("the dispatch at its community", WAIT, || async {
        get(tree.node(C1), &keys[0]).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;
    eventually("the district agrees with the street", WAIT, || holds_same(tree.node(S1), tree.node(DISTRICT))).await;
    let before = docs(tree.node(S1)).await;

    // Lose the street's disk.
    tree.nodes.get_mut(S1).unwrap().stop().await;
    std::fs::remove_dir_all(tree.data_dir(S1)).unwrap();
    tree.restart(S1, |_| {}).await;
    eventually("the street rebuilt", WAIT, || async { docs(tree.node(S1)).await == before }).await;
    assert!(views_match_recount(tree.node(S1)).await, "the rebuilt street's views differ from a recount");
    // The district and the community that had received the street's dispatch held
    // checkpoints of the lost log: those links repair. (A child that never received
    // anything from the street holds none; the fast path from zero is enough there.)
    eventually("the repair path ran on the links that held checkpoints", WAIT, || async {
        let links = tree.node(S1).running.links.all();
        [DISTRICT, C1].iter().all(|peer| links.get(*peer).is_some_and(|s| s.repairs == 1))
    })
    .await;

    // The fast path works again, both ways.
    let after = write(tree.node(C2), request(C2, 99)).await.key;
    eventually("a new write at the district", WAIT, || async { get(tree.node(DISTRICT), &after).await.is_some() })
        .await;
    write(tree.node(S1), Write::set(after.clone(), &[("status", json!("dispatched"))])).await;
    eventually("a new dispatch at the community", WAIT, || async {
        get(tree.node(C2), &after).await.is_some_and(|r| r["status"] == "dispatched")
    })
    .await;
    tree.stop_all().await;
}
