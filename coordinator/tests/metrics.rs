//! `/metrics` as Prometheus scrapes it: over HTTP, from a running tree, through a
//! partition and its heal; and every metric `docs/metrics.md` lists is in a scrape.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const STREET: &str = "lg-pingdi";
const COMMUNITY: &str = "lg-pingdi-pingdi";

async fn scrape(addr: SocketAddr) -> String {
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect to /metrics");
    socket.write_all(b"GET /metrics HTTP/1.1\r\nHost: linli\r\n\r\n").await.expect("request");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    answer
}

/// The value of the series `name{labels}` in a scrape, if it is there.
fn value_of(scrape: &str, series: &str) -> Option<u64> {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

fn value(scrape: &str, series: &str) -> u64 {
    value_of(scrape, series).unwrap_or_else(|| panic!("no `{series}` in\n{scrape}"))
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr")
}

/// The metric names `docs/metrics.md` lists: the backticked `linli_*` names that open
/// a row of its tables.
fn documented() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md");
    text.lines()
        .filter_map(|line| line.strip_prefix("| `")?.split('`').next().map(str::to_string))
        .filter(|name| name.starts_with("linli_"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lag_rises_during_a_partition_and_falls_after_the_heal_and_every_documented_metric_is_scraped() {
    let mut tree = Tree::start(&[(STREET, &[COMMUNITY])]).await;
    let addr = free_addr();
    tree.restart(COMMUNITY, |config| config.metrics_listen = Some(addr)).await;
    let backlog = format!("linli_link_backlog_entries{{node=\"{COMMUNITY}\",peer=\"{STREET}\"}}");
    let lag_s = format!("linli_link_lag_seconds{{node=\"{COMMUNITY}\",peer=\"{STREET}\"}}");
    let connected = format!("linli_link_connected{{node=\"{COMMUNITY}\",peer=\"{STREET}\"}}");
    eventually("the link up", Duration::from_secs(10), || async {
        value_of(&scrape(addr).await, &connected) == Some(1)
    })
    .await;
    write(tree.node(COMMUNITY), request(COMMUNITY, 0)).await;
    eventually("caught up before the cut", Duration::from_secs(10), || async {
        value(&scrape(addr).await, &backlog) == 0
    })
    .await;

    tree.proxy(COMMUNITY).cut();
    for i in 1..=20 {
        write(tree.node(COMMUNITY), request(COMMUNITY, i)).await;
    }
    eventually("the link seen down", Duration::from_secs(10), || async { value(&scrape(addr).await, &connected) == 0 })
        .await;
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let during = scrape(addr).await;
    assert!(value(&during, &backlog) >= 20, "the backlog did not rise:\n{during}");
    assert!(value(&during, &lag_s) >= 2, "the lag in seconds did not rise:\n{during}");
    let bytes = format!("linli_link_backlog_bytes{{node=\"{COMMUNITY}\",peer=\"{STREET}\"}}");
    assert!(value(&during, &bytes) >= 20 * 100, "the backlog in bytes did not rise:\n{during}");
    let local = format!("linli_changes_applied_total{{node=\"{COMMUNITY}\",source=\"local\"}}");
    assert!(value(&during, &local) >= 21, "{during}");

    tree.proxy(COMMUNITY).heal();
    eventually("the backlog and the lag fall to 0 after the heal", Duration::from_secs(20), || async {
        let after = scrape(addr).await;
        value(&after, &backlog) == 0 && value(&after, &lag_s) == 0 && value(&after, &connected) == 1
    })
    .await;

    // Everything documented is scraped, and everything scraped is documented.
    let after = scrape(addr).await;
    let scraped: BTreeSet<String> =
        after.lines().filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next().map(str::to_string)).collect();
    let documented = documented();
    assert!(documented.len() >= 20, "docs/metrics.md lists only {documented:?}");
    let missing: Vec<_> = documented.difference(&scraped).collect();
    assert!(missing.is_empty(), "documented but not scraped: {missing:?}");
    let undocumented: Vec<_> = scraped.difference(&documented).collect();
    assert!(undocumented.is_empty(), "scraped but not in docs/metrics.md: {undocumented:?}");
    // Histograms have their buckets; the fsync histogram counted the commits.
    let fsyncs = format!("linli_fsync_seconds_count{{node=\"{COMMUNITY}\"}}");
    assert!(value(&after, &fsyncs) >= 21, "{after}");
    assert!(
        after.contains("linli_query_seconds_bucket{node=\"lg-pingdi-pingdi\",kind=\"open\",le=\"+Inf\"}"),
        "{after}"
    );
    tree.stop_all().await;
}

#[test]
fn the_dashboard_reads_only_documented_metrics() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards/district.json");
    let text = std::fs::read_to_string(path).expect("dashboards/district.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let documented = documented();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names =
                expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("linli_"));
            for name in names {
                let base = name.strip_suffix("_bucket").unwrap_or(name);
                assert!(documented.contains(base), "panel '{}' reads {name}, not in docs/metrics.md", panel["title"]);
                used.insert(base.to_string());
            }
        }
    }
    for needed in [
        "linli_link_lag_seconds",
        "linli_changes_applied_total",
        "linli_changes_refused_total",
        "linli_fsync_seconds",
        "linli_store_disk_bytes",
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
}
