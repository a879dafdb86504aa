//! A peer's changes are checked before anything of them is kept (see `doc::admit`):
//! a change a child could only have forged, or one that edits what the schema does
//! not allow, is refused for its document with a reason naming the rule, and the
//! other documents of the same batch apply.

mod common;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue};
use common::*;
use linli_core::Error;
use linli_core::ids::{DocId, NodeId, RecordKey};
use linli_core::replica::{Effect, Event, Scope, StoredReplica};
use linli_core::store::{MemoryStore, Storage};
use std::collections::BTreeSet;

const STREET: &str = "lg-pingdi";
const OTHER: &str = "lg-pingdi-fuping";

/// The street over the community, and the community after one request and one task.
fn setup() -> (StoredReplica<MemoryStore>, StoredReplica<MemoryStore>, RecordKey, RecordKey) {
    let street = replica(STREET, Scope::Owners([COMMUNITY.to_string(), OTHER.to_string()].into()));
    let mut community = community();
    let request = new_request(&mut community, 0).key;
    let task = new_task(&mut community);
    (street, community, request, task)
}

/// The community's log, one group of changes per document.
fn honest_changes(community: &StoredReplica<MemoryStore>) -> Vec<(DocId, Vec<Vec<u8>>)> {
    let mut docs: Vec<(DocId, Vec<Vec<u8>>)> = Vec::new();
    for entry in community.store.log_after(0, 100).unwrap() {
        match docs.iter_mut().find(|(doc, _)| *doc == entry.doc) {
            Some((_, changes)) => changes.extend(entry.changes),
            None => docs.push((entry.doc, entry.changes)),
        }
    }
    docs
}

/// One change on top of `changes`, made under `actor` by `edit` on the request's map.
fn forged(changes: &[Vec<u8>], actor: &str, edit: impl FnOnce(&mut AutoCommit, automerge::ObjId)) -> Vec<u8> {
    let mut doc = AutoCommit::load(linli_core::doc::genesis_bytes()).unwrap();
    for change in changes {
        doc.load_incremental(change).unwrap();
    }
    doc.set_actor(ActorId::from(actor.as_bytes()));
    let (_, records) = doc.get(ROOT, "records").unwrap().unwrap();
    let (_, record) = doc.get(&records, 0).unwrap().unwrap();
    edit(&mut doc, record);
    doc.commit_with(CommitOptions::default().with_time(NOW_MS as i64));
    doc.get_last_local_change().unwrap().raw_bytes().to_vec()
}

/// Applies the batch from the community with the street's refused actors (the street
/// itself and its other community); returns each document's result.
fn deliver(
    street: &mut StoredReplica<MemoryStore>,
    docs: Vec<(DocId, Vec<Vec<u8>>)>,
) -> Vec<(DocId, Result<usize, Error>)> {
    let actors_refused: BTreeSet<String> = [STREET.to_string(), OTHER.to_string()].into();
    let origin = NodeId::new(COMMUNITY).unwrap();
    let event =
        Event::Changes { origin, actors_refused, docs, traces: Default::default(), meta: Vec::new(), now_ms: NOW_MS };
    street
        .step(event)
        .unwrap()
        .into_iter()
        .filter_map(|effect| match effect {
            Effect::Applied { doc, result, .. } => Some((doc, result)),
            _ => None,
        })
        .collect()
}

/// The request's document holds the honest request plus one forged change; the
/// task's document is honest. The forged document is refused naming `rule`, nothing
/// of it is kept, and the task is applied.
fn refused_with(actor: &str, rule: &str, edit: impl FnOnce(&mut AutoCommit, automerge::ObjId)) {
    let (mut street, community, request, task) = setup();
    let mut docs = honest_changes(&community);
    let at = docs.iter().position(|(doc, _)| *doc == request.doc).unwrap();
    let bad = forged(&docs[at].1, actor, edit);
    docs[at].1.push(bad);
    let results = deliver(&mut street, docs);
    for (doc, result) in &results {
        if *doc == request.doc {
            let e = result.as_ref().expect_err("the forged document must be refused");
            let text = e.to_string();
            assert!(matches!(e, Error::Inadmissible { .. }), "{e:?}");
            assert!(text.contains(&request.doc.to_string()) && text.contains(rule), "{text} should name {rule}");
        } else {
            assert!(result.is_ok(), "{doc}: the honest document must apply: {result:?}");
        }
    }
    assert_eq!(street.replica.get(&street.store, &request).unwrap(), None, "nothing of the refused document is kept");
    assert!(street.replica.get(&street.store, &task).unwrap().is_some(), "the honest document of the batch applied");
}

fn own_actor() -> String {
    format!("{COMMUNITY}.7")
}

#[test]
fn a_personal_field_in_a_peer_change_is_refused_naming_it() {
    refused_with(&own_actor(), "`reporter_phone` is personal", |doc, record| {
        doc.put(&record, "reporter_phone", "13912345678").unwrap();
    });
}

#[test]
fn a_field_the_schema_does_not_declare_is_refused() {
    refused_with(&own_actor(), "declares no field `nickname`", |doc, record| {
        doc.put(&record, "nickname", "x").unwrap();
    });
}

#[test]
fn a_value_of_the_wrong_type_or_out_of_the_enum_is_refused() {
    refused_with(&own_actor(), "field `grid` is string", |doc, record| {
        doc.put(&record, "grid", 5_i64).unwrap();
    });
    refused_with(&own_actor(), "field `status` is enum", |doc, record| {
        doc.put(&record, "status", "vanished").unwrap();
    });
}

#[test]
fn an_edit_outside_the_records_is_refused() {
    refused_with(&own_actor(), "the root holds only `records`", |doc, _| {
        doc.put(ROOT, "admin", true).unwrap();
    });
    refused_with(&own_actor(), "field `summary` is string", |doc, record| {
        let nested = doc.put_object(&record, "summary", ObjType::Map).unwrap();
        doc.put(&nested, "deep", ScalarValue::Str("x".into())).unwrap();
    });
}

#[test]
fn a_change_removing_a_record_the_parent_holds_is_refused_and_the_record_stays() {
    let (mut street, community, request, _) = setup();
    let docs = honest_changes(&community);
    for (doc, result) in deliver(&mut street, docs.clone()) {
        assert!(result.is_ok(), "{doc}: {result:?}");
    }
    let changes = docs.iter().find(|(doc, _)| *doc == request.doc).unwrap().1.clone();
    let removal = forged(&changes, &own_actor(), |doc, _| {
        let (_, records) = doc.get(ROOT, "records").unwrap().unwrap();
        doc.delete(&records, 0).unwrap();
    });
    let results = deliver(&mut street, vec![(request.doc.clone(), vec![removal])]);
    let text = results[0].1.as_ref().expect_err("a removal must be refused").to_string();
    assert!(text.contains("records are only ever added"), "{text}");
    assert!(street.replica.get(&street.store, &request).unwrap().is_some(), "the record stays");
}

#[test]
fn a_change_under_the_parents_or_a_siblings_actor_is_refused() {
    refused_with(&format!("{STREET}.1f"), "actor of `lg-pingdi`", |doc, record| {
        doc.put(&record, "status", "dispatched").unwrap();
    });
    refused_with(&format!("{OTHER}.3"), "actor of `lg-pingdi-fuping`", |doc, record| {
        doc.put(&record, "assignee", "王").unwrap();
    });
}

#[test]
fn a_change_under_the_childs_own_or_a_higher_tiers_actor_is_taken() {
    for actor in [own_actor(), "lg-district.2a".to_string()] {
        let (mut street, community, request, _) = setup();
        let mut docs = honest_changes(&community);
        let at = docs.iter().position(|(doc, _)| *doc == request.doc).unwrap();
        let edit = forged(&docs[at].1, &actor, |doc, record| doc.put(&record, "status", "dispatched").unwrap());
        docs[at].1.push(edit);
        for (doc, result) in deliver(&mut street, docs) {
            assert!(result.is_ok(), "{actor}: {doc}: {result:?}");
        }
        let record = street.replica.get(&street.store, &request).unwrap().unwrap();
        assert_eq!(record.get("status").and_then(|v| v.as_str()), Some("dispatched"));
    }
}

#[test]
fn a_document_on_a_shard_its_registry_never_makes_is_refused_and_the_rest_applies() {
    let (mut street, community, request, task) = setup();
    let mut docs = honest_changes(&community);
    let at = docs.iter().position(|(doc, _)| *doc == request.doc).unwrap();
    let changes = docs[at].1.clone();
    let bogus = DocId::new(COMMUNITY, "requests", "2026-13").unwrap();
    docs.push((bogus.clone(), changes));
    for (doc, result) in deliver(&mut street, docs) {
        match doc == bogus {
            true => {
                let text = result.expect_err("a made-up shard must be refused").to_string();
                assert!(text.contains("never makes shard `2026-13`"), "{text}");
            }
            false => assert!(result.is_ok(), "{doc}: {result:?}"),
        }
    }
    assert!(street.replica.get(&street.store, &request).unwrap().is_some());
    assert!(street.replica.get(&street.store, &task).unwrap().is_some());
    assert!(!street.store.doc_ids().unwrap().contains(&bogus), "nothing is stored for the made-up shard");
}
