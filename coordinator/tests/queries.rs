//! The Query service on a running tree (1 district, 2 streets, 4 communities): each
//! answer equals a recount from the records the test wrote; overdue lists follow the
//! clock; a watch at the district sees a write made at a community.

mod common;

use common::ledger::{CATEGORIES, DAY_MS, HOUR_MS, Ledger, SERVICES};
use common::*;
use linli_core::views::hist::{bucket_of, bucket_value_ms};
use linli_proto::v1;
use linli_proto::v1::query_client::QueryClient;
use linli_proto::v1::query_reply::Answer;
use linli_proto::v1::query_request::Query as Q;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tonic::transport::Channel;

const S1: &str = "lg-s1";
const S2: &str = "lg-s2";
const C1: &str = "lg-s1-c1";
const C2: &str = "lg-s1-c2";
const C3: &str = "lg-s2-c3";
const C4: &str = "lg-s2-c4";
const WAIT: Duration = Duration::from_secs(30);

fn street_of(community: &str) -> &'static str {
    if community.starts_with("lg-s1-") { S1 } else { S2 }
}

async fn client(node: &Node) -> QueryClient<Channel> {
    QueryClient::new(channel(node).await)
}

async fn ask(client: &mut QueryClient<Channel>, at_ms: i64, filter: v1::QueryFilter, query: Q) -> Answer {
    let request = v1::QueryRequest { at_ms: Some(at_ms), filter: Some(filter), query: Some(query) };
    client.ask(request).await.expect("ask").into_inner().answer.expect("an answer")
}

fn everywhere() -> v1::QueryFilter {
    v1::QueryFilter::default()
}

/// The tree with a day of every community written, replicated up to the district.
async fn written_tree() -> (Tree, Ledger) {
    let tree = Tree::start(&[(S1, &[C1, C2]), (S2, &[C3, C4])]).await;
    let mut ledger = Ledger::default();
    // C1 plans 2.4 million yuan (over the cap); C2 1.5 million, of which a cancelled
    // 1.2 million does not count; C3 exactly at the cap.
    let budgets: [&[(i64, bool)]; 4] = [
        &[(800_000, false), (800_000, false), (800_000, false)],
        &[(1_200_000, true), (300_000, false)],
        &[(2_000_000, false)],
        &[],
    ];
    for (seed, community) in [C1, C2, C3, C4].into_iter().enumerate() {
        ledger.community_day(tree.node(community), community, seed, budgets[seed]).await;
    }
    for community in [C1, C2, C3, C4] {
        eventually("the community's documents at the district", WAIT, || async {
            holds_same(tree.node(community), tree.node(DISTRICT)).await
        })
        .await;
    }
    (tree, ledger)
}

fn is_open(status: &str) -> bool {
    ["reported", "dispatched", "accepted"].contains(&status)
}

fn quantile(mut values: Vec<i64>, q: f64) -> i64 {
    values.sort();
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    bucket_value_ms(bucket_of(values[rank - 1]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_aggregate_equals_a_recount_of_what_was_written() {
    let (mut tree, ledger) = written_tree().await;
    let mut district = client(tree.node(DISTRICT)).await;
    let requests: Vec<_> = ledger.of("requests").collect();

    // Open requests by street and status.
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (_, r) in &requests {
        let status = r.str("status").unwrap_or("reported");
        if is_open(status) {
            *expected.entry((street_of(&r.community).into(), status.into())).or_default() += 1;
        }
    }
    let by = v1::OpenQuery { by_street: true, by_status: true, ..Default::default() };
    let Answer::Open(open) = ask(&mut district, NOW_MS, everywhere(), Q::Open(by)).await else { panic!() };
    let got: BTreeMap<_, _> = open.counts.iter().map(|c| ((c.street.clone(), c.status.clone()), c.count)).collect();
    assert_eq!(got, expected, "open requests by street and status");
    assert!(!expected.is_empty());

    // By community and category, filtered to one category.
    let category = CATEGORIES[1];
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (_, r) in &requests {
        if is_open(r.str("status").unwrap_or("reported")) && r.str("category") == Some(category) {
            *expected.entry(r.community.clone()).or_default() += 1;
        }
    }
    let filter = v1::QueryFilter { category: Some(category.into()), ..Default::default() };
    let by = v1::OpenQuery { by_community: true, ..Default::default() };
    let Answer::Open(open) = ask(&mut district, NOW_MS, filter, Q::Open(by)).await else { panic!() };
    let got: BTreeMap<_, _> = open.counts.iter().map(|c| (c.community.clone(), c.count)).collect();
    assert_eq!(got, expected, "open {category} requests by community");

    // The open list of one community, two pages.
    let expected: BTreeSet<String> = requests
        .iter()
        .filter(|(_, r)| r.community == C2 && is_open(r.str("status").unwrap_or("reported")))
        .map(|(k, _)| k.to_string())
        .collect();
    let filter = v1::QueryFilter { community: Some(C2.into()), ..Default::default() };
    let mut listed = BTreeSet::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let q = Q::OpenList(v1::OpenListQuery { limit: 5, after: after.clone() });
        let Answer::OpenList(page) = ask(&mut district, NOW_MS, filter.clone(), q).await else { panic!() };
        assert!(page.records.len() <= 5);
        listed.extend(page.records.iter().map(|r| r.record.clone()));
        pages += 1;
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, expected, "the open list of {C2}");
    assert!(pages >= 2, "{} open records fit one page of 5", expected.len());

    // Resolution time by street and category over the last 30 days.
    let mut durations: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for (_, r) in &requests {
        if let (Some(from), Some(to)) = (r.ms("reported_at"), r.ms("resolved_at")) {
            let key = (street_of(&r.community).to_string(), r.str("category").unwrap_or("-").to_string());
            durations.entry(key).or_default().push(to - from);
        }
    }
    let by = v1::ResolutionQuery { by_street: true, by_category: true, ..Default::default() };
    let Answer::Resolution(resolution) = ask(&mut district, NOW_MS, everywhere(), Q::Resolution(by)).await else {
        panic!()
    };
    let got: BTreeMap<_, _> = resolution
        .rows
        .iter()
        .map(|r| ((r.street.clone(), r.category.clone()), (r.resolved, r.p50_ms, r.p90_ms, r.p99_ms)))
        .collect();
    let expected: BTreeMap<_, _> = durations
        .into_iter()
        .map(|(k, v)| {
            let row = (v.len() as i64, quantile(v.clone(), 0.5), quantile(v.clone(), 0.9), quantile(v, 0.99));
            (k, row)
        })
        .collect();
    assert_eq!(got, expected, "resolution percentiles by street and category");

    // A window of one day holds only that day's resolutions (days in Shenzhen).
    let day = NOW_MS - 2 * DAY_MS;
    let in_day = |ms: i64| (ms + 8 * HOUR_MS).div_euclid(DAY_MS) == (day + 8 * HOUR_MS).div_euclid(DAY_MS);
    let expected = requests.iter().filter(|(_, r)| r.ms("resolved_at").is_some_and(in_day)).count() as i64;
    let one_day = v1::ResolutionQuery { from_ms: Some(day), to_ms: Some(day), ..Default::default() };
    let Answer::Resolution(resolution) = ask(&mut district, NOW_MS, everywhere(), Q::Resolution(one_day)).await else {
        panic!()
    };
    assert_eq!(resolution.rows.iter().map(|r| r.resolved).sum::<i64>(), expected, "resolutions of one day");

    // The task funnel by street.
    let mut expected: BTreeMap<String, (i64, [Vec<i64>; 3])> = BTreeMap::new();
    for (_, t) in ledger.of("tasks") {
        let entry = expected.entry(street_of(&t.community).into()).or_default();
        entry.0 += 1;
        let stamps = ["ordered_at", "dispatched_at", "accepted_at", "completed_at"].map(|f| t.ms(f));
        for step in 0..3 {
            if let (Some(from), Some(to)) = (stamps[step], stamps[step + 1]) {
                entry.1[step].push(to - from);
            }
        }
    }
    let Answer::Funnel(funnel) =
        ask(&mut district, NOW_MS, everywhere(), Q::Funnel(v1::FunnelQuery { by_street: true })).await
    else {
        panic!()
    };
    let got: BTreeMap<_, _> = funnel
        .rows
        .iter()
        .map(|r| (r.street.clone(), (r.ordered, r.steps.iter().map(|s| (s.count, s.p50_ms)).collect::<Vec<_>>())))
        .collect();
    let expected: BTreeMap<_, _> = expected
        .into_iter()
        .map(|(street, (ordered, steps))| {
            let steps = steps
                .into_iter()
                .map(|d| (d.len() as i64, (!d.is_empty()).then(|| quantile(d.clone(), 0.5))))
                .collect::<Vec<_>>();
            (street, (ordered, steps))
        })
        .collect();
    assert_eq!(got, expected, "the task funnel by street");

    // Funnel of one service at one street.
    let filter = v1::QueryFilter { street: Some(S2.into()), category: Some(SERVICES[0].into()), ..Default::default() };
    let Answer::Funnel(funnel) = ask(&mut district, NOW_MS, filter, Q::Funnel(v1::FunnelQuery::default())).await else {
        panic!()
    };
    let ordered = ledger
        .of("tasks")
        .filter(|(_, t)| street_of(&t.community) == S2 && t.str("service") == Some(SERVICES[0]))
        .count() as i64;
    assert_eq!(funnel.rows.iter().map(|r| r.ordered).sum::<i64>(), ordered);

    // Projects of the year: budget and spend without cancelled ones; the cap.
    let mut expected: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (_, p) in ledger.of("projects") {
        if p.str("status") != Some("cancelled") {
            let entry = expected.entry(p.community.clone()).or_default();
            entry.0 += p.ms("budget").unwrap_or(0);
            entry.1 += p.ms("spent").unwrap_or(0);
        }
    }
    let Answer::Projects(projects) =
        ask(&mut district, NOW_MS, everywhere(), Q::Projects(v1::ProjectsQuery::default())).await
    else {
        panic!()
    };
    let got: BTreeMap<_, _> =
        projects.rows.iter().map(|r| (r.community.clone(), (r.budget_fen, r.spent_fen))).collect();
    assert_eq!(got, expected, "project budgets and spend by community");
    let over: Vec<_> = projects.rows.iter().filter(|r| r.over_cap).map(|r| r.community.as_str()).collect();
    assert_eq!(over, [C1], "only {C1} plans over 2,000,000 yuan ({C3} is at the cap, not over)");
    let over_only = v1::ProjectsQuery { year: Some("2026".into()), over_cap_only: true };
    let Answer::Projects(projects) = ask(&mut district, NOW_MS, everywhere(), Q::Projects(over_only)).await else {
        panic!()
    };
    assert_eq!(projects.rows.iter().map(|r| r.community.as_str()).collect::<Vec<_>>(), [C1]);

    // Volunteer hours by community and month, and the top teams.
    let month = |ms: i64| linli_core::schema::month_shard(ms);
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut teams: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (_, v) in ledger.of("volunteers") {
        let entry = expected.entry((v.community.clone(), month(v.ms("month_of").unwrap()))).or_default();
        entry.0 += v.ms("hours").unwrap_or(0);
        entry.1 += v.ms("visits").unwrap_or(0);
        *teams.entry((v.community.clone(), v.str("team").unwrap().to_string())).or_default() +=
            v.ms("hours").unwrap_or(0);
    }
    let Answer::Hours(hours) =
        ask(&mut district, NOW_MS, everywhere(), Q::Hours(v1::HoursQuery { top: 3, ..Default::default() })).await
    else {
        panic!()
    };
    let got: BTreeMap<_, _> =
        hours.months.iter().map(|r| ((r.community.clone(), r.month.clone()), (r.hours, r.visits))).collect();
    assert_eq!(got, expected, "hours and visits by community and month");
    let mut top: Vec<_> = teams.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(3);
    let got: Vec<_> = hours.top_teams.iter().map(|t| ((t.community.clone(), t.team.clone()), t.hours)).collect();
    assert_eq!(got, top, "the top 3 teams by hours");

    // Sites by kind and status; V stations silent for a day (closed ones are not).
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut silent = BTreeSet::new();
    for (key, s) in ledger.of("sites") {
        let status = s.str("status").unwrap_or("open").to_string();
        *expected.entry((s.str("kind").unwrap().to_string(), status.clone())).or_default() += 1;
        let quiet = s.ms("last_report_at").is_none_or(|ms| ms < NOW_MS - DAY_MS);
        if s.str("kind") == Some("v_station") && status != "closed" && quiet {
            silent.insert(key.to_string());
        }
    }
    let Answer::Sites(sites) = ask(&mut district, NOW_MS, everywhere(), Q::Sites(v1::SitesQuery::default())).await
    else {
        panic!()
    };
    let got: BTreeMap<_, _> = sites.counts.iter().map(|c| ((c.kind.clone(), c.status.clone()), c.count)).collect();
    assert_eq!(got, expected, "sites by kind and status");
    let got: BTreeSet<_> = sites.silent.iter().map(|s| s.record.clone()).collect();
    assert_eq!(got, silent, "silent V stations");
    assert_eq!(sites.silent_total as usize, silent.len());

    // A street answers for its own communities only.
    let mut street = client(tree.node(S1)).await;
    let by = v1::OpenQuery { by_community: true, ..Default::default() };
    let Answer::Open(open) = ask(&mut street, NOW_MS, everywhere(), Q::Open(by)).await else { panic!() };
    let communities: BTreeSet<_> = open.counts.iter().map(|c| c.community.as_str()).collect();
    assert_eq!(communities, BTreeSet::from([C1, C2]));
    assert!(open.counts.iter().all(|c| c.street == "*"));

    // Drill-down: one community's requests a page at a time, without personal data.
    let mut seen = BTreeSet::new();
    let mut after = None;
    loop {
        let request = v1::RecordsRequest { community: C3.into(), registry: "requests".into(), limit: 7, after };
        let page = district.records(request).await.expect("records").into_inner();
        for json in &page.records_json {
            assert!(!json.contains("reporter_phone") && !json.contains("13800000000"), "personal data in {json}");
            let value: serde_json::Value = serde_json::from_str(json).expect("json");
            seen.insert(value["key"].as_str().expect("key").to_string());
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: BTreeSet<_> =
        requests.iter().filter(|(_, r)| r.community == C3).map(|(k, _)| k.to_string()).collect();
    assert_eq!(seen, expected, "drill-down pages of {C3}");

    // Bad queries are refused, naming what is wrong.
    let request =
        v1::QueryRequest { at_ms: None, filter: None, query: Some(Q::Overdue(v1::OverdueQuery { limit: 5000 })) };
    let refused = district.ask(request).await.expect_err("a limit over the bound");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("limit"), "{}", refused.message());

    // Replication status: the district sees both streets, caught up.
    let links = district.links(v1::LinksRequest {}).await.expect("links").into_inner();
    let peers: BTreeSet<_> = links.links.iter().map(|l| (l.peer.as_str(), l.role.as_str())).collect();
    assert_eq!(peers, BTreeSet::from([(S1, "child"), (S2, "child")]));
    assert!(links.links.iter().all(|l| l.connected && l.lag_changes == 0 && l.last_contact_ms > 0), "{links:?}");
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overdue_lists_follow_the_clock() {
    let (mut tree, ledger) = written_tree().await;
    let mut district = client(tree.node(DISTRICT)).await;
    let expected_at = |at: i64| -> Vec<(String, i64)> {
        let mut overdue: Vec<(i64, String)> = ledger
            .of("requests")
            .filter(|(_, r)| is_open(r.str("status").unwrap_or("reported")))
            .filter_map(|(k, r)| r.ms("deadline").filter(|d| *d < at).map(|d| (d, k.to_string())))
            .collect();
        overdue.sort();
        overdue.into_iter().map(|(d, k)| (k, at - d)).collect()
    };
    let mut previous = 0;
    // From a day before the last write to three days after it: the list only grows,
    // oldest first, each with its age at that moment.
    for at in [NOW_MS - DAY_MS, NOW_MS, NOW_MS + 12 * HOUR_MS, NOW_MS + 3 * DAY_MS] {
        let Answer::Overdue(overdue) =
            ask(&mut district, at, everywhere(), Q::Overdue(v1::OverdueQuery { limit: 1000 })).await
        else {
            panic!()
        };
        let got: Vec<_> = overdue.records.iter().map(|r| (r.record.clone(), r.overdue_ms)).collect();
        assert_eq!(got, expected_at(at), "overdue at {at}");
        assert_eq!(overdue.total as usize, got.len());
        assert!(got.len() >= previous, "the overdue list shrank as time passed");
        previous = got.len();
    }
    assert!(previous > expected_at(NOW_MS - DAY_MS).len(), "the clock moved nothing");

    // Filtered to one street and category, limited: the oldest of the right ones.
    let filter =
        v1::QueryFilter { street: Some(S2.into()), category: Some(CATEGORIES[0].into()), ..Default::default() };
    let at = NOW_MS + 3 * DAY_MS;
    let Answer::Overdue(overdue) = ask(&mut district, at, filter, Q::Overdue(v1::OverdueQuery { limit: 2 })).await
    else {
        panic!()
    };
    let all: Vec<_> = expected_at(at)
        .into_iter()
        .filter(|(k, _)| {
            let r = &ledger.records[&linli_core::ids::RecordKey::parse(k).unwrap()];
            street_of(&r.community) == S2 && r.str("category") == Some(CATEGORIES[0])
        })
        .collect();
    assert_eq!(overdue.total as usize, all.len());
    let got: Vec<_> = overdue.records.iter().map(|r| (r.record.clone(), r.overdue_ms)).collect();
    assert_eq!(got, all.into_iter().take(2).collect::<Vec<_>>());

    // Resolving an overdue request takes it off the list.
    let (first, _) = expected_at(at).into_iter().next().expect("an overdue request");
    let key = linli_core::ids::RecordKey::parse(&first).unwrap();
    let community = ledger.records[&key].community.clone();
    let status = ledger.records[&key].str("status").unwrap_or("reported").to_string();
    let moves: &[&str] = match status.as_str() {
        "reported" => &["dispatched", "accepted", "resolved"],
        "dispatched" => &["accepted", "resolved"],
        _ => &["resolved"],
    };
    for status in moves {
        write(tree.node(&community), linli_core::write::Write::set(key.clone(), &[("status", json!(status))])).await;
    }
    eventually("the resolved request off the district's overdue list", WAIT, || async {
        let Answer::Overdue(overdue) =
            ask(&mut district.clone(), at, everywhere(), Q::Overdue(v1::OverdueQuery { limit: 1000 })).await
        else {
            return false;
        };
        overdue.records.iter().all(|r| r.record != first)
    })
    .await;
    tree.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_at_the_district_sees_a_write_at_a_community() {
    let mut tree = Tree::start(&[(S1, &[C1, C2]), (S2, &[C3, C4])]).await;
    let mut district = client(tree.node(DISTRICT)).await;
    let watched = v1::QueryRequest {
        at_ms: Some(NOW_MS),
        filter: Some(v1::QueryFilter { community: Some(C3.into()), ..Default::default() }),
        query: Some(Q::Open(v1::OpenQuery { by_community: true, ..Default::default() })),
    };
    let mut stream = district.watch(watched).await.expect("watch").into_inner();
    let count = |reply: v1::QueryReply| match reply.answer {
        Some(Answer::Open(open)) => open.counts.iter().map(|c| c.count).sum::<i64>(),
        other => panic!("{other:?}"),
    };
    let first =
        tokio::time::timeout(WAIT, stream.message()).await.expect("first answer").expect("stream").expect("reply");
    assert_eq!(count(first), 0, "nothing written yet");
    // A write at another community moves the views but not this answer: not sent.
    write(tree.node(C1), request(C1, 1)).await;
    write(tree.node(C3), request(C3, 2)).await;
    let next = tokio::time::timeout(WAIT, stream.message()).await.expect("an answer after the write").expect("stream");
    assert_eq!(count(next.expect("reply")), 1, "the watch saw the write at {C3}");
    for i in 0..5 {
        write(tree.node(C3), request(C3, 10 + i)).await;
    }
    // Intermediate answers may be skipped; the latest arrives.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply =
            tokio::time::timeout_at(deadline, stream.message()).await.expect("the latest answer").expect("stream");
        if count(reply.expect("reply")) == 6 {
            break;
        }
    }
    tree.stop_all().await;
}
