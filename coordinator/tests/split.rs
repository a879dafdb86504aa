//! A community split in two (as 双合家园 was in 2020), end to end: the street splits
//! it over gRPC by grid; each new community receives exactly its records, the old one
//! keeps them readable as history, and the district counts each record once.

mod common;

use common::*;
use linli_core::ids::RecordKey;
use linli_core::views::Views;
use linli_proto::v1::SplitRequest;
use linli_proto::v1::registry_client::RegistryClient;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tonic::Code;

const STREET: &str = "lg-s1";
const OLD: &str = "lg-s1-shuanghe";
const A: &str = "lg-s1-shuanghe-a";
const B: &str = "lg-s1-shuanghe-b";
const RECORDS: usize = 21;
const WAIT: Duration = Duration::from_secs(30);

fn requests_of(views: &Views, owner: &str) -> i64 {
    views.counts.iter().filter(|(key, _)| key.community == owner && key.registry == "requests").map(|(_, n)| n).sum()
}

/// `request(owner, i)` is in `grid-{i % 7}`: grid-0..grid-3 go to A, the rest to B.
fn new_owner(i: usize) -> &'static str {
    if i % 7 < 4 { A } else { B }
}

fn moved(key: &RecordKey, owner: &str) -> RecordKey {
    let mut key = key.clone();
    key.doc.owner = owner.into();
    key
}

/// Record keys in `owner`'s request documents at `node`.
async fn request_keys(node: &Node, owner: &str) -> BTreeSet<String> {
    let prefix = format!("{owner}/requests/");
    let mut keys = BTreeSet::new();
    for (doc, records) in docs(node).await {
        if !doc.starts_with(&prefix) {
            continue;
        }
        if let Some(records) = records.as_object() {
            keys.extend(records.keys().map(|id| format!("{doc}/{id}")));
        }
    }
    keys
}

fn split_request(to: &[(&str, &str)], default_to: Option<&str>) -> SplitRequest {
    SplitRequest {
        from: OLD.into(),
        by_field: "grid".into(),
        to: to.iter().map(|(v, o)| (v.to_string(), o.to_string())).collect(),
        default_to: default_to.map(String::from),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_community_split_by_grid_is_counted_once_and_keeps_its_history() {
    let mut tree = Tree::start(&[(STREET, &[OLD, A, B])]).await;
    let mut keys = Vec::new();
    for i in 0..RECORDS {
        keys.push(write(tree.node(OLD), request(OLD, i)).await.key);
    }
    eventually("the old community's records at the district", WAIT, || async {
        for key in &keys {
            if get(tree.node(DISTRICT), key).await.is_none() {
                return false;
            }
        }
        true
    })
    .await;

    let mut client = RegistryClient::new(channel(tree.node(STREET)).await);
    let grids: Vec<(String, &str)> = (0..7).map(|g| (format!("grid-{g}"), if g < 4 { A } else { B })).collect();
    let mapping: Vec<(&str, &str)> = grids.iter().map(|(g, o)| (g.as_str(), *o)).collect();

    // Refused, with nothing done: bad input names the field; a community may not split.
    let status = client.split(split_request(&mapping, Some(OLD))).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("`default_to`"), "{}", status.message());
    let status = client.split(SplitRequest { by_field: "no_such".into(), ..split_request(&mapping, None) }).await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("`by_field`"), "{}", status.message());
    let mut at_old = RegistryClient::new(channel(tree.node(OLD)).await);
    let status = at_old.split(split_request(&mapping, None)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // The split, at the street.
    let reply = client.split(split_request(&mapping, None)).await.expect("split").into_inner();
    let to_a = (0..RECORDS).filter(|i| new_owner(*i) == A).count() as u64;
    assert_eq!(
        reply.moved.into_iter().collect::<BTreeMap<_, _>>(),
        BTreeMap::from([(A.to_string(), to_a), (B.to_string(), RECORDS as u64 - to_a)])
    );
    assert_eq!(reply.left, 0);

    // Each new community holds exactly its records, with the same ids and fields.
    for owner in [A, B] {
        let expected: BTreeSet<String> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| new_owner(*i) == owner)
            .map(|(_, key)| moved(key, owner).to_string())
            .collect();
        eventually("each new community holds exactly its records", WAIT, || async {
            request_keys(tree.node(owner), owner).await == expected
        })
        .await;
        assert!(request_keys(tree.node(owner), OLD).await.is_empty(), "{owner} holds the old community's documents");
    }
    for (i, key) in keys.iter().enumerate() {
        let copy_key = moved(key, new_owner(i));
        let copy = get(tree.node(new_owner(i)), &copy_key).await.expect("the copy");
        assert_eq!(copy["split_from"], key.to_string());
        assert_eq!(copy["grid"], format!("grid-{}", i % 7));
        assert_eq!(copy["summary"], format!("路灯不亮 #{i}"));
        assert_eq!(copy["status"], "reported");
    }

    // The old community reads its originals as history, with `moved_to`.
    for (i, key) in keys.iter().enumerate() {
        let copy_key = moved(key, new_owner(i)).to_string();
        eventually("the old community's original carries moved_to", WAIT, || async {
            get(tree.node(OLD), key).await.is_some_and(|r| r["moved_to"] == copy_key.as_str())
        })
        .await;
        let original = get(tree.node(OLD), key).await.expect("the original");
        assert_eq!(original["summary"], format!("路灯不亮 #{i}"), "the original's fields are intact");
    }

    // Every tier counts each record once.
    let expected =
        [(OLD, 0), (A, to_a as i64), (B, RECORDS as i64 - to_a as i64)].into_iter().collect::<BTreeMap<_, _>>();
    for id in [DISTRICT, STREET] {
        eventually("each record counted once", WAIT, || async {
            let views = tree.node(id).engine().views_async().await.expect("views");
            expected.iter().all(|(owner, n)| requests_of(&views, owner) == *n)
        })
        .await;
    }
    let district = tree.node(DISTRICT).engine().views_async().await.unwrap();
    assert_eq!([OLD, A, B].iter().map(|o| requests_of(&district, o)).sum::<i64>(), RECORDS as i64);
    for (id, owner, n) in [(OLD, OLD, 0), (A, A, expected[A]), (B, B, expected[B])] {
        eventually("each community counts its own", WAIT, || async {
            requests_of(&tree.node(id).engine().views_async().await.expect("views"), owner) == n
        })
        .await;
    }
    for id in [DISTRICT, STREET, OLD, A, B] {
        eventually("views equal a recount", WAIT, || async { views_match_recount(tree.node(id)).await }).await;
    }

    // Running it again moves nothing.
    let reply = client.split(split_request(&mapping, None)).await.expect("split again").into_inner();
    assert!(reply.moved.is_empty() && reply.left == 0, "{reply:?}");
    tree.stop_all().await;
}
