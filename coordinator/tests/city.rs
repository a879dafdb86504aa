//! A city above the district: four tiers of real servers over mutual TLS. The district
//! between the city and its street does what a street does between its communities
//! and its district: it links up, ships its subtree's log, passes the city's
//! broadcast down, relays the watermarks of the tiers above; the city aggregates with
//! the same engine, views and queries.

mod common;

use common::*;
use linli_core::ids::RecordKey;
use linli_core::write::Write;
use linli_node::config::Tier;
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::query_reply::Answer;
use linli_proto::v1::query_request::Query as Q;
use linli_proto::v1::registry_client::RegistryClient;
use serde_json::json;
use std::time::Duration;

const CITY: &str = "sz";
const STREET: &str = "lg-pingdi";
const COMMUNITY: &str = "lg-pingdi-pingdi";
/// The city's operator: a scope of the city covers everything below it at the city.
const CITY_OPERATOR: &str = "operator--sz--tests";
const WAIT: Duration = Duration::from_secs(20);

/// The city, its district `lg` (through a proxy), a street and a community.
async fn city_tree() -> Tree {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tree = Tree { dir, nodes: Default::default(), proxies: Default::default(), parent_of: Default::default() };
    let city = config(CITY, Tier::City, tree.data_dir(CITY), None, &[DISTRICT]);
    tree.nodes.insert(CITY.into(), start(city, any()).await);
    tree.start_child(DISTRICT, Tier::District, CITY, &[STREET]).await;
    tree.start_child(STREET, Tier::Street, DISTRICT, &[COMMUNITY]).await;
    tree.start_child(COMMUNITY, Tier::Community, STREET, &[]).await;
    tree
}

fn waiting(i: usize, at: i32) -> v1::WriteRequest {
    v1::WriteRequest { durable_at: at, wait_ms: Some(20_000), ..v1::WriteRequest::from(&request(COMMUNITY, i)) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_city_holds_what_its_district_holds_and_answers_for_it() {
    let mut tree = city_tree().await;
    let mut community = RegistryClient::new(channel(tree.node(COMMUNITY)).await);

    // Answered once the city holds it: the district relays the city's watermark down.
    let reply = community.write(waiting(1, v1::Tier::City as i32)).await.expect("answered").into_inner();
    let key = RecordKey::parse(&reply.record_key).expect("key");
    assert!(get(tree.node(CITY), &key).await.is_some(), "answered before the city held it");
    for node in [STREET, DISTRICT] {
        assert!(get(tree.node(node), &key).await.is_some(), "{node} skipped");
    }
    // A tier the tree does not have: the wait says how far up the acks reach.
    let above_city = linli_proto::convert::tier_to_wire(Tier::City.above().expect("a tier above the city"));
    let request = v1::WriteRequest { wait_ms: Some(500), ..waiting(2, above_city) };
    let refused = community.write(request).await.expect_err("no tier-4 above");
    assert_eq!(refused.code(), tonic::Code::DeadlineExceeded, "{refused:?}");
    assert!(refused.message().contains("the tiers above reach the city"), "{refused:?}");
    // At the top, a tier above it is refused before anything is written.
    let mut at_city = RegistryClient::new(channel_as(tree.node(CITY), CITY_OPERATOR).await);
    let refused = at_city.write(waiting(3, above_city)).await.expect_err("nothing above the city");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("`sz` is the top of its tree, a city"), "{refused:?}");

    // The city's own record reaches the community through the district and the street.
    let centre = Write::create(
        CITY,
        "sites",
        &[("kind", json!("district_centre")), ("name", json!("市党群服务中心")), ("open_24h", json!(true))],
    );
    let written = at_city.write(v1::WriteRequest::from(&centre)).await.expect("the city writes").into_inner();
    let centre = RecordKey::parse(&written.record_key).expect("key");
    eventually("the city's record at the community", WAIT, || async {
        get(tree.node(COMMUNITY), &centre).await.is_some()
    })
    .await;

    // The same documents and views at every tier, and the city answers for the whole.
    eventually("the community's documents at the city", WAIT, || async {
        holds_same(tree.node(COMMUNITY), tree.node(CITY)).await
            && holds_same(tree.node(DISTRICT), tree.node(CITY)).await
    })
    .await;
    for node in [CITY, DISTRICT, STREET, COMMUNITY] {
        assert!(views_match_recount(tree.node(node)).await, "{node}'s views differ from a recount");
    }
    assert_eq!(
        tree.node(CITY).engine().views_async().await.ok(),
        tree.node(DISTRICT).engine().views_async().await.ok()
    );
    let mut query = QueryClient::new(channel_as(tree.node(CITY), CITY_OPERATOR).await);
    let by = v1::OpenQuery { by_street: true, by_community: true, ..Default::default() };
    let request = v1::QueryRequest { at_ms: Some(NOW_MS), filter: None, query: Some(Q::Open(by)) };
    let Some(Answer::Open(open)) = query.ask(request).await.expect("ask").into_inner().answer else {
        panic!("not an open answer")
    };
    let rows: Vec<_> = open.counts.iter().map(|c| (c.street.as_str(), c.community.as_str(), c.count)).collect();
    // Two: the write that waited for a tier-4 is durable at the community all the same.
    assert_eq!(rows, [(DISTRICT, COMMUNITY, 2)], "at the city, a community's place is its district");
    tree.stop_all().await;
}
