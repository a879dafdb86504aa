//! Splitting a community in two (as 双合家园 was in 2020): records move to the new
//! communities by a rule given at the split, the originals stay readable as history,
//! and every tier counts each record once.

mod common;

use common::*;
use linli_core::doc::{MOVED_TO, SPLIT_FROM};
use linli_core::ids::{NodeId, RecordKey};
use linli_core::replica::{Scope, SplitReport, StoredReplica};
use linli_core::store::{MemoryStore, Storage};
use linli_core::value::Value;
use linli_core::views::Views;
use linli_core::write::{FieldOp, Write};
use linli_core::{Error, Problem};
use serde_json::json;
use std::collections::BTreeMap;

const OLD: &str = "lg-s1-shuanghe";
const A: &str = "lg-s1-shuanghe-a";
const B: &str = "lg-s1-shuanghe-b";
const STREET: &str = "lg-s1";
const REQUESTS: usize = 21;

fn old_community() -> StoredReplica<MemoryStore> {
    replica(OLD, Scope::only(OLD))
}

fn street() -> StoredReplica<MemoryStore> {
    replica(STREET, Scope::Owners([STREET, OLD, A, B].map(String::from).into()))
}

fn district() -> StoredReplica<MemoryStore> {
    replica("lg", Scope::All)
}

fn request(i: usize) -> Write {
    let mut fields = request_fields(i);
    fields.retain(|(name, _)| *name != "grid");
    fields.push(("grid", json!(format!("grid-{}", i % 7))));
    fields.push(("reporter_phone", json!("13900000000")));
    Write::create(OLD, "requests", &fields)
}

/// grid-0..grid-3 to A, the rest to B.
fn by_grid() -> BTreeMap<String, String> {
    (0..7).map(|g| (format!("grid-{g}"), if g < 4 { A } else { B }.to_string())).collect()
}

fn goes_to_a(i: usize) -> bool {
    i % 7 < 4
}

/// Ships every entry of `from`'s log whose document passes `filter` to `to`.
fn ship_if(from: &StoredReplica<MemoryStore>, to: &mut StoredReplica<MemoryStore>, filter: impl Fn(&str) -> bool) {
    let batches = from
        .store
        .log_after(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| filter(&e.doc.owner))
        .map(|e| (e.doc, e.changes))
        .collect();
    let origin: NodeId = from.replica.node().clone();
    for (doc, result) in to.apply(&origin, batches, NOW_MS + 60_000).unwrap() {
        result.unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
}

fn ship(from: &StoredReplica<MemoryStore>, to: &mut StoredReplica<MemoryStore>) {
    ship_if(from, to, |_| true);
}

fn requests_of(views: &Views, owner: &str) -> i64 {
    views.counts.iter().filter(|(k, _)| k.community == owner && k.registry == "requests").map(|(_, n)| n).sum()
}

fn assert_views_match_recount(node: &mut StoredReplica<MemoryStore>) {
    let recount = node.replica.recount(&node.store).unwrap();
    assert_eq!(node.replica.views(), &recount, "{}: views differ from a recount", node.replica.node());
}

fn moved_key(original: &RecordKey, owner: &str) -> RecordKey {
    let mut key = original.clone();
    key.doc.owner = owner.into();
    key
}

/// The old community with `REQUESTS` requests, a claimed task and a volunteer's sheet
/// with hours, and a street that holds them all.
struct Setup {
    old: StoredReplica<MemoryStore>,
    street: StoredReplica<MemoryStore>,
    requests: Vec<RecordKey>,
    task: RecordKey,
    sheet: RecordKey,
}

fn setup() -> Setup {
    let mut old = old_community();
    let requests: Vec<RecordKey> = (0..REQUESTS).map(|i| old.write(request(i), NOW_MS).unwrap().key).collect();
    let task_fields = [
        ("service", json!("repair")),
        ("summary", json!("修水管")),
        ("grid", json!("grid-5")),
        ("ordered_at", json!(NOW_MS as i64)),
    ];
    let task = old.write(Write::create(OLD, "tasks", &task_fields), NOW_MS).unwrap().key;
    old.write(Write::set(task.clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    for by in ["v2", "v1"] {
        let claim = FieldOp::Claim { field: "assignee".into(), by: by.into() };
        old.write(Write::update(task.clone(), vec![claim]), NOW_MS).unwrap();
    }
    let sheet_fields = [("member", json!("m1")), ("team", json!("t1")), ("month_of", json!(NOW_MS as i64))];
    let sheet = old.write(Write::create(OLD, "volunteers", &sheet_fields), NOW_MS).unwrap().key;
    old.write(Write::update(sheet.clone(), vec![FieldOp::Add { field: "hours".into(), delta: 7 }]), NOW_MS).unwrap();
    // One request moves along: dispatched, so it counts under another status.
    old.write(Write::set(requests[0].clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    let mut street = street();
    ship(&old, &mut street);
    Setup { old, street, requests, task, sheet }
}

#[test]
fn records_split_by_grid_land_at_their_new_community_with_the_same_ids_and_fields() {
    let Setup { mut old, mut street, requests, task, sheet } = setup();
    let before = street.replica.views().clone();
    assert_eq!(requests_of(&before, OLD), REQUESTS as i64);

    // Volunteers' sheets have no grid: they go to the default.
    let report = street.split(OLD, "grid", by_grid(), Some(A), NOW_MS + 1000).unwrap();
    let to_a = (0..REQUESTS).filter(|i| goes_to_a(*i)).count();
    let to_b = REQUESTS - to_a;
    assert_eq!(report, SplitReport { moved: [(A.into(), to_a + 1), (B.into(), to_b + 1)].into(), left: 0 });

    for (i, original) in requests.iter().enumerate() {
        let owner = if goes_to_a(i) { A } else { B };
        let key = moved_key(original, owner);
        let copy = street.replica.get(&street.store, &key).unwrap().unwrap_or_else(|| panic!("no copy {key}"));
        let was = street.replica.get(&street.store, original).unwrap().expect("the original stays readable");
        assert_eq!(was.get(MOVED_TO), Some(&Value::Str(key.to_string())));
        assert_eq!(copy.get(SPLIT_FROM), Some(&Value::Str(original.to_string())));
        assert_eq!(copy.get(MOVED_TO), None);
        let strip = |fields: &BTreeMap<String, Value>| {
            fields
                .iter()
                .filter(|(k, _)| *k != MOVED_TO && *k != SPLIT_FROM)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(strip(&copy.fields), strip(&was.fields), "{key}: fields differ from the original's");
        assert_eq!(copy.get("grid"), Some(&Value::Str(format!("grid-{}", i % 7))));
    }
    let copy = street.replica.get(&street.store, &moved_key(&task, B)).unwrap().unwrap();
    let was = street.replica.get(&street.store, &task).unwrap().unwrap();
    assert_eq!(copy.claims, was.claims, "every claim is kept, under its original key");
    assert_eq!(copy.claims["assignee"].entries.len(), 2);
    assert_eq!(copy.claims["assignee"].winner().unwrap().by, "v2", "the first claimant still wins");
    assert_eq!(copy.get("status"), Some(&Value::Enum("dispatched".into())));
    let copy = street.replica.get(&street.store, &moved_key(&sheet, A)).unwrap().unwrap();
    assert_eq!(copy.get("hours"), Some(&Value::Counter(7)), "a counter keeps its count");
    // The copy is a live record: its counter goes on adding up.
    let more = FieldOp::Add { field: "hours".into(), delta: 3 };
    street.write(Write::update(moved_key(&sheet, A), vec![more]), NOW_MS + 2000).unwrap();

    // The street: views equal a recount, and count each record once.
    assert_views_match_recount(&mut street);
    let views = street.replica.views().clone();
    assert_eq!(requests_of(&views, OLD), 0, "moved records still count at the old community");
    assert_eq!(requests_of(&views, A), to_a as i64);
    assert_eq!(requests_of(&views, B), to_b as i64);
    assert!(views.open_by_deadline.iter().all(|(_, key)| !key.starts_with(&format!("{OLD}/"))));
    assert_eq!(views.open_by_deadline.len(), REQUESTS);
    // Sums follow the copy: hours of the old community are now A's.
    assert!(views.sums.keys().all(|k| k.community != OLD));
    assert_eq!(
        views.sums.iter().filter(|(k, _)| k.community == A && k.field == "hours").map(|(_, v)| v).sum::<i64>(),
        10
    );

    // The district receives the street's log: it counts each record once too.
    let mut district = district();
    ship(&street, &mut district);
    assert_views_match_recount(&mut district);
    let views = district.replica.views().clone();
    assert_eq!(requests_of(&views, OLD), 0);
    assert_eq!(requests_of(&views, A), to_a as i64);
    assert_eq!(requests_of(&views, B), to_b as i64);
    assert_eq!(&views, street.replica.views(), "the district holds what the street holds");

    // The old community receives the marks on its own documents: its originals leave
    // its views, and their personal fields stay readable there, under the old keys.
    ship_if(&street, &mut old, |owner| owner == OLD);
    assert_views_match_recount(&mut old);
    assert_eq!(requests_of(old.replica.views(), OLD), 0);
    assert!(old.replica.views().counts.is_empty(), "{:?}", old.replica.views().counts);
    let original = old.replica.get(&old.store, &requests[3]).unwrap().unwrap();
    assert_eq!(original.get("reporter_phone"), Some(&Value::Str("13900000000".into())));
    assert_eq!(original.get(MOVED_TO), Some(&Value::Str(moved_key(&requests[3], A).to_string())));
    // Personal data was not copied: the copy has none, at the street or anywhere.
    let copy = street.replica.get(&street.store, &moved_key(&requests[3], A)).unwrap().unwrap();
    assert_eq!(copy.get("reporter_phone"), None);
}

#[test]
fn unmapped_records_go_to_the_default_or_stay() {
    let Setup { mut street, requests, sheet, .. } = setup();
    // Only grid-0 and grid-1 are mapped, and there is no default.
    let to: BTreeMap<String, String> = [("grid-0".into(), A.into()), ("grid-1".into(), B.into())].into();
    let report = street.split(OLD, "grid", to, None, NOW_MS).unwrap();
    let to_a = (0..REQUESTS).filter(|i| i % 7 == 0).count();
    let to_b = (0..REQUESTS).filter(|i| i % 7 == 1).count();
    // The task is in grid-5, the sheet has no grid: both stay.
    assert_eq!(
        report,
        SplitReport { moved: [(A.into(), to_a), (B.into(), to_b)].into(), left: REQUESTS - to_a - to_b + 2 }
    );
    let stayed = street.replica.get(&street.store, &requests[2]).unwrap().unwrap();
    assert_eq!(stayed.get(MOVED_TO), None);
    assert!(street.replica.get(&street.store, &moved_key(&sheet, A)).unwrap().is_none());
    let views = street.replica.views().clone();
    assert_eq!(requests_of(&views, OLD), (REQUESTS - to_a - to_b) as i64);
    assert_views_match_recount(&mut street);

    // The rest, later, to a default: only what had not moved moves.
    let report = street.split(OLD, "grid", BTreeMap::new(), Some(B), NOW_MS).unwrap();
    assert_eq!(report, SplitReport { moved: [(B.into(), REQUESTS - to_a - to_b + 2)].into(), left: 0 });
    assert_eq!(requests_of(street.replica.views(), OLD), 0);
    assert_eq!(requests_of(street.replica.views(), A), to_a as i64);
    assert_views_match_recount(&mut street);
}

#[test]
fn a_split_is_one_batch_and_running_it_twice_moves_nothing_more() {
    let Setup { mut old, mut street, .. } = setup();
    let seq = street.store.log_last_seq().unwrap();
    let first = street.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap();
    // One log entry per document touched, all in the split's one batch: the old
    // community's requests, tasks, volunteers (untouched: no grid, no default), and
    // A's and B's requests and B's tasks.
    let entries = street.store.log_after(seq, usize::MAX).unwrap();
    let docs: Vec<String> = entries.iter().map(|e| e.doc.to_string()).collect();
    assert_eq!(docs.len(), 5, "{docs:?}");
    assert_eq!(first.left, 1, "the volunteer's sheet has no grid");
    let views = street.replica.views().clone();

    let again = street.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap();
    assert_eq!(again, SplitReport { moved: BTreeMap::new(), left: 1 });
    assert_eq!(street.store.log_last_seq().unwrap(), seq + 5, "a second run wrote nothing");
    assert_eq!(street.replica.views(), &views);

    // Records written to the old community after the split are not moved by it; a
    // later run moves them.
    let late = old.write(request(4), NOW_MS + 60_000).unwrap().key;
    ship(&old, &mut street);
    assert!(street.replica.get(&street.store, &late).unwrap().unwrap().get(MOVED_TO).is_none());
    assert_eq!(requests_of(street.replica.views(), OLD), 1);
    let third = street.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap();
    assert_eq!(third, SplitReport { moved: [(B.into(), 1)].into(), left: 1 });
    assert_eq!(requests_of(street.replica.views(), OLD), 0);
    assert!(street.replica.get(&street.store, &moved_key(&late, B)).unwrap().is_some());
    assert_views_match_recount(&mut street);
}

#[test]
fn a_split_outside_the_scope_is_refused_and_leaves_no_trace() {
    let Setup { old, requests, .. } = setup();
    // A street that may write the old community and A, but not B.
    let mut narrow = replica(STREET, Scope::Owners([STREET, OLD, A].map(String::from).into()));
    ship(&old, &mut narrow);
    let seq = narrow.store.log_last_seq().unwrap();
    let views = narrow.replica.views().clone();
    let err = narrow.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap_err();
    assert!(matches!(&err, Error::NotOwner { doc, node, .. } if doc.starts_with(B) && node == STREET), "{err}");
    assert_eq!(narrow.store.log_last_seq().unwrap(), seq, "a refused split logged changes");
    assert_eq!(narrow.replica.views(), &views);
    let original = narrow.replica.get(&narrow.store, &requests[0]).unwrap().unwrap();
    assert_eq!(original.get(MOVED_TO), None);
    assert!(narrow.replica.get(&narrow.store, &moved_key(&requests[0], A)).unwrap().is_none());
    assert!(!narrow.replica.doc_ids().any(|doc| doc.owner == A), "a refused split created a document");
    assert_views_match_recount(&mut narrow);

    // A community may not split itself into communities it does not serve.
    let mut old = old;
    let err = old.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap_err();
    assert!(matches!(err, Error::NotOwner { .. }), "{err}");

    // Bad input is refused naming the input at fault, before the scope is checked.
    let field_of = |err: Error| match err {
        Error::Split { field, .. } => field,
        other => panic!("not a split error: {other}"),
    };
    assert_eq!(field_of(narrow.split(OLD, "no_such_field", by_grid(), None, NOW_MS).unwrap_err()), "by_field");
    assert_eq!(field_of(narrow.split(OLD, "reporter_phone", by_grid(), None, NOW_MS).unwrap_err()), "by_field");
    assert_eq!(field_of(narrow.split("平地", "grid", by_grid(), None, NOW_MS).unwrap_err()), "from");
    assert_eq!(field_of(narrow.split(OLD, "grid", BTreeMap::new(), None, NOW_MS).unwrap_err()), "to");
    let to_itself: BTreeMap<String, String> = [("grid-0".into(), OLD.into())].into();
    assert_eq!(field_of(narrow.split(OLD, "grid", to_itself, None, NOW_MS).unwrap_err()), "to");
    assert_eq!(field_of(narrow.split(OLD, "grid", BTreeMap::new(), Some(""), NOW_MS).unwrap_err()), "default_to");
    assert_eq!(narrow.store.log_last_seq().unwrap(), seq);
}

#[test]
fn users_cannot_write_the_system_fields_nor_a_moved_record() {
    let Setup { mut street, requests, .. } = setup();
    let refused = |result: linli_core::Result<_>| match result {
        Err(Error::Invalid { field, problem, .. }) => (field, problem),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("accepted"),
    };
    let mut fields = request_fields(0);
    fields.push((MOVED_TO, json!("lg-x/requests/2026-11/r1.lg-x")));
    let create = Write::create(OLD, "requests", &fields);
    assert_eq!(refused(street.write(create, NOW_MS)), (MOVED_TO.to_string(), Problem::SystemField));
    let set = Write::set(requests[1].clone(), &[(SPLIT_FROM, json!("lg-x/requests/2026-11/r1.lg-x"))]);
    assert_eq!(refused(street.write(set, NOW_MS)), (SPLIT_FROM.to_string(), Problem::SystemField));
    let text = street.write(Write::set(requests[1].clone(), &[(MOVED_TO, json!("x"))]), NOW_MS).unwrap_err();
    assert!(text.to_string().contains("set by a split only"), "{text}");

    street.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap();
    // The original is history: writes go to its copy.
    let copy = moved_key(&requests[1], A);
    let set = Write::set(requests[1].clone(), &[("status", json!("dispatched"))]);
    assert_eq!(refused(street.write(set, NOW_MS)), (MOVED_TO.to_string(), Problem::Moved { to: copy.to_string() }));
    let set = Write::set(copy.clone(), &[(SPLIT_FROM, json!("x"))]);
    assert_eq!(refused(street.write(set, NOW_MS)), (SPLIT_FROM.to_string(), Problem::SystemField));
    street.write(Write::set(copy.clone(), &[("status", json!("dispatched"))]), NOW_MS).unwrap();
    assert_views_match_recount(&mut street);

    // A registry file may not declare them either.
    let text = "name = \"x\"\nshard = { by = \"none\" }\n[fields]\nmoved_to = { type = \"string\" }\n";
    let err = linli_core::schema::parse_schema("x.toml", text).unwrap_err().to_string();
    assert!(err.contains("`moved_to` is reserved"), "{err}");
}

#[test]
fn a_split_merges_with_concurrent_changes_and_every_replica_counts_once() {
    let Setup { mut old, mut street, requests, .. } = setup();
    // While the street splits, the old community, not yet told, moves a request on
    // and writes a new one.
    street.split(OLD, "grid", by_grid(), None, NOW_MS).unwrap();
    old.write(Write::set(requests[2].clone(), &[("status", json!("dispatched"))]), NOW_MS + 5).unwrap();
    let late = old.write(request(9), NOW_MS + 5).unwrap().key;

    // Both ways, then the district from both.
    ship_if(&street, &mut old, |owner| owner == OLD);
    ship(&old, &mut street);
    let mut district = district();
    ship(&old, &mut district);
    ship(&street, &mut district);
    for node in [&mut old, &mut street, &mut district] {
        assert_views_match_recount(node);
    }
    assert_eq!(old.replica.materialize(&old.store).unwrap(), {
        let mut all = street.replica.materialize(&street.store).unwrap();
        all.retain(|doc, _| doc.starts_with(&format!("{OLD}/")));
        all
    });
    for node in [&street, &district] {
        let views = node.replica.views();
        // The late request did not move; the concurrently changed one did, as it was.
        assert_eq!(requests_of(views, OLD), 1, "{}", node.replica.node());
        assert_eq!(requests_of(views, A) + requests_of(views, B), REQUESTS as i64);
    }
    assert!(street.replica.get(&street.store, &late).unwrap().unwrap().get(MOVED_TO).is_none());
    // The change made at the old community before it heard of the split lands on the
    // original, and the street, which ran the split, carries it over to the copy: an
    // acknowledged write reaches the record that counts, at every replica.
    let original = street.replica.get(&street.store, &requests[2]).unwrap().unwrap();
    assert_eq!(original.get("status"), Some(&Value::Enum("dispatched".into())));
    assert!(original.get(MOVED_TO).is_some());
    ship(&street, &mut district);
    for node in [&mut street, &mut district] {
        let copy = node.replica.get(&node.store, &moved_key(&requests[2], A)).unwrap().unwrap();
        assert_eq!(copy.get("status"), Some(&Value::Enum("dispatched".into())), "{}", node.replica.node());
    }
    assert_views_match_recount(&mut district);
    assert_eq!(district.replica.views(), street.replica.views());
}

/// The old community's clock against its street's, in ms.
fn late_changes_carry_over_with_the_old_community_skewed_by(skew_ms: i64) {
    let Setup { mut old, mut street, task, sheet, .. } = setup();
    let at = |ms: u64| NOW_MS.saturating_add_signed(skew_ms) + ms;
    street.split(OLD, "grid", by_grid(), Some(A), NOW_MS + 1000).unwrap();
    // Not told yet, the old community goes on: hours added, the task claimed by a
    // third volunteer and moved on, a note changed.
    let add = FieldOp::Add { field: "hours".into(), delta: 5 };
    old.write(Write::update(sheet.clone(), vec![add.clone()]), at(2000)).unwrap();
    old.write(Write::update(sheet.clone(), vec![add]), at(2001)).unwrap();
    let claim = FieldOp::Claim { field: "assignee".into(), by: "v3".into() };
    old.write(Write::update(task.clone(), vec![claim]), at(2002)).unwrap();
    old.write(Write::set(task.clone(), &[("status", json!("accepted"))]), at(2003)).unwrap();
    // Meanwhile the task's new community writes its copy's summary.
    let (sheet_copy, task_copy) = (moved_key(&sheet, A), moved_key(&task, B));
    let mut b = replica(B, Scope::only(B));
    ship_if(&street, &mut b, |owner| owner == B);
    b.write(Write::set(task_copy.clone(), &[("summary", json!("水管已换"))]), NOW_MS + 3000).unwrap();
    ship(&b, &mut street);
    old.write(Write::set(task.clone(), &[("summary", json!("修水管, 二楼"))]), at(2004)).unwrap();

    ship(&old, &mut street);
    let mut district = district();
    ship(&old, &mut district);
    ship(&street, &mut district);
    ship(&b, &mut district);
    // Shipping again changes nothing: each late change is carried once.
    ship(&old, &mut street);
    ship(&street, &mut district);
    for node in [&mut street, &mut district] {
        let name = node.replica.node().to_string();
        let hours = node.replica.get(&node.store, &sheet_copy).unwrap().unwrap();
        assert_eq!(hours.get("hours"), Some(&Value::Counter(17)), "{name}: 7 copied, 10 late");
        let copy = node.replica.get(&node.store, &task_copy).unwrap().unwrap();
        let claimants: Vec<&str> = copy.claims["assignee"].entries.iter().map(|c| c.by.as_str()).collect();
        assert_eq!(claimants.len(), 3, "{name}: {claimants:?}");
        assert_eq!(copy.claims["assignee"].winner().unwrap().by, "v2", "{name}: the first claimant still wins");
        assert_eq!(copy.get("status"), Some(&Value::Enum("accepted".into())), "{name}");
        // Written at the copy after the split, by one who had seen it: it stands.
        assert_eq!(copy.get("summary"), Some(&Value::Str("水管已换".into())), "{name}");
        assert_views_match_recount(node);
        let hours_of_a: i64 = node
            .replica
            .views()
            .sums
            .iter()
            .filter(|(k, _)| k.community == A && k.field == "hours")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(hours_of_a, 17, "{name}: the views count the late hours at the copy");
    }
    assert_eq!(district.replica.views(), street.replica.views());
}

#[test]
fn late_changes_to_moved_records_reach_their_copies_once() {
    late_changes_carry_over_with_the_old_community_skewed_by(0);
}

#[test]
fn late_changes_reach_their_copies_whatever_the_clocks_say() {
    // Ahead of its street (within the skew bound), and behind it.
    late_changes_carry_over_with_the_old_community_skewed_by(120_000);
    late_changes_carry_over_with_the_old_community_skewed_by(-120_000);
}

#[test]
fn a_reopened_replica_recounts_a_split_the_same() {
    let Setup { mut street, .. } = setup();
    street.split(OLD, "grid", by_grid(), Some(B), NOW_MS).unwrap();
    let views = street.replica.views().clone();
    let config = linli_core::replica::ReplicaConfig::new(NodeId::new(STREET).unwrap(), Scope::All);
    let mut reopened =
        StoredReplica::open(config, linli_core::schema::Registries::defaults().unwrap(), street.store.clone()).unwrap();
    assert_eq!(reopened.replica.views(), &views);
    assert_views_match_recount(&mut reopened);
    let again = reopened.split(OLD, "grid", by_grid(), Some(B), NOW_MS).unwrap();
    assert_eq!(again, SplitReport::default(), "a restart forgets nothing of what moved");
}
