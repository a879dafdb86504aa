//! One trace from community to district: the servers export spans over OTLP to a
//! collector in this process (the trace service of OpenTelemetry's protocol), and one
//! write made at a community with a known `traceparent` finds spans of the community,
//! the street and the district under its trace id: with the tree whole, and when the
//! write was made while the community was cut off and shipped on reconnect.
//!
//! The exporter is set up once per process, so this file holds one test.

mod common;

use common::*;
use linli_proto::v1;
use linli_proto::v1::registry_client::RegistryClient;
use linli_sim::real::collector::{CollectedSpan, Collector};
use std::collections::BTreeSet;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const STREET: &str = "lg-pingdi";
const COMMUNITY: &str = "lg-pingdi-pingdi";

/// A `traceparent` with trace id `n` repeated, sampled.
fn traceparent(n: u8) -> (String, String) {
    let trace_id = format!("{n:02x}").repeat(16);
    (format!("00-{trace_id}-00f067aa0ba902b7-01"), trace_id)
}

async fn traced_write(client: &mut RegistryClient<tonic::transport::Channel>, i: usize, parent: &str) -> String {
    let mut request = tonic::Request::new(v1::WriteRequest::from(&request(COMMUNITY, i)));
    request.metadata_mut().insert("traceparent", parent.parse().expect("ascii"));
    client.write(request).await.expect("written").into_inner().record_key
}

/// The spans of `trace_id`, as (node, span name).
fn hops(spans: &[CollectedSpan], trace_id: &str) -> BTreeSet<(String, String)> {
    spans
        .iter()
        .filter(|span| span.trace_id == trace_id)
        .map(|span| (span.attributes.get("linli.node").cloned().unwrap_or_default(), span.name.clone()))
        .collect()
}

/// Waits until the collector holds spans of `trace_id` from the district; returns them.
async fn trace_reaching_the_district(collector: &Collector, trace_id: &str) -> BTreeSet<(String, String)> {
    let mut seen = BTreeSet::new();
    for _ in 0..100 {
        linli_node::telemetry::flush();
        seen = hops(&collector.spans(), trace_id);
        if seen.iter().any(|(node, name)| node == DISTRICT && name == "linli.link.apply") {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no span of trace {trace_id} from the district; seen: {seen:?}");
}

fn assert_every_tier(seen: &BTreeSet<(String, String)>) {
    for expected in [
        (COMMUNITY, "linli.write"),
        (COMMUNITY, "linli.engine.step"),
        (COMMUNITY, "linli.link.ship"),
        (STREET, "linli.link.apply"),
        (STREET, "linli.engine.step"),
        (STREET, "linli.link.ship"),
        (DISTRICT, "linli.link.apply"),
        (DISTRICT, "linli.engine.step"),
    ] {
        let expected = (expected.0.to_string(), expected.1.to_string());
        assert!(seen.contains(&expected), "no {expected:?} in the trace: {seen:?}");
    }
    for name in ["linli.views.move", "linli.log.append"] {
        assert!(seen.iter().any(|(_, span)| span == name), "no {name} in the trace: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_write_is_one_trace_from_community_to_district_even_when_shipped_after_a_cut() {
    let collector = Collector::start().await.expect("collector");
    let spans = linli_node::telemetry::layer(&collector.endpoint(), "the test").expect("exporter");
    tracing_subscriber::registry().with(spans).init();
    assert!(linli_node::telemetry::enabled());

    let mut tree = Tree::start(&[(STREET, &[COMMUNITY])]).await;
    let mut client = RegistryClient::new(channel(tree.node(COMMUNITY)).await);

    // The tree whole.
    let (parent, trace_id) = traceparent(0x11);
    let key = traced_write(&mut client, 1, &parent).await;
    let seen = trace_reaching_the_district(&collector, &trace_id).await;
    assert_every_tier(&seen);
    let spans = collector.spans();
    let write = spans.iter().find(|s| s.trace_id == trace_id && s.name == "linli.write").expect("the write's span");
    assert_eq!(write.parent_span_id, "00f067aa0ba902b7", "the write's span is not the caller's child");
    assert_eq!(write.attributes.get("record"), Some(&key));
    assert_eq!(write.attributes.get("linli.tier").map(String::as_str), Some("community"));

    // Written while the community is cut off: shipped on reconnect, still one trace.
    tree.proxy(COMMUNITY).cut();
    eventually("the community sees its link down", Duration::from_secs(10), || async {
        !tree.node(COMMUNITY).running.links.all().values().any(|s| s.parent && s.connected)
    })
    .await;
    let (parent, cut_trace) = traceparent(0x22);
    traced_write(&mut client, 2, &parent).await;
    // Also untraced writes, so the batch shipped on reconnect holds more than this one.
    for i in 3..8 {
        client.write(v1::WriteRequest::from(&request(COMMUNITY, i))).await.expect("written");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    linli_node::telemetry::flush();
    let before_heal = hops(&collector.spans(), &cut_trace);
    assert!(
        before_heal.iter().all(|(node, _)| node == COMMUNITY),
        "spans above the community before it reconnected: {before_heal:?}"
    );
    tree.proxy(COMMUNITY).heal();
    let seen = trace_reaching_the_district(&collector, &cut_trace).await;
    assert_every_tier(&seen);
    assert_eq!(collector.dropped(), 0);
    tree.stop_all().await;
}
