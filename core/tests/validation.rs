//! Every write is checked against its registry's schema; a bad one is refused with an
//! error that names the record and the field, and nothing of it is applied.

mod common;

use common::*;
use linli_core::error::{Error, Problem};
use linli_core::ids::RecordKey;
use linli_core::replica::Scope;
use linli_core::schema::{Registries, parse_schema};
use linli_core::write::{FieldOp, Write};
use serde_json::json;

fn refused(result: linli_core::Result<linli_core::replica::Written>) -> (String, String, Problem, String) {
    match result {
        Err(e @ Error::Invalid { .. }) => {
            let text = e.to_string();
            let Error::Invalid { record, field, problem } = e else { unreachable!() };
            (record, field, problem, text)
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

fn create_with(replace: (&'static str, serde_json::Value)) -> Write {
    let mut fields = request_fields(0);
    fields.retain(|(f, _)| *f != replace.0);
    fields.push(replace);
    Write::create(COMMUNITY, "requests", &fields)
}

#[test]
fn unknown_field_is_refused_by_name() {
    let mut node = community();
    let (record, field, problem, text) = refused(node.write(create_with(("weather", json!("rain"))), NOW_MS));
    assert!(record.starts_with("lg-pingdi-pingdi/requests/2026-11/"), "{record}");
    assert_eq!(field, "weather");
    assert_eq!(problem, Problem::UnknownField);
    assert!(text.contains("field `weather`: unknown field"), "{text}");
}

#[test]
fn wrong_type_says_what_was_expected_and_what_came() {
    let mut node = community();
    let (_, field, problem, text) = refused(node.write(create_with(("summary", json!(5))), NOW_MS));
    assert_eq!(field, "summary");
    assert_eq!(problem, Problem::WrongType { expected: "a string", got: "the number 5".into() });
    assert!(text.contains("expected a string, got the number 5"), "{text}");
    let (_, field, _, text) = refused(node.write(create_with(("deadline", json!("tomorrow"))), NOW_MS));
    assert_eq!(field, "deadline");
    assert!(text.contains("timestamp in milliseconds"), "{text}");
}

#[test]
fn missing_required_field_is_named() {
    let mut node = community();
    let mut fields = request_fields(0);
    fields.retain(|(f, _)| *f != "grid");
    let (_, field, problem, _) = refused(node.write(Write::create(COMMUNITY, "requests", &fields), NOW_MS));
    assert_eq!((field.as_str(), problem), ("grid", Problem::MissingRequired));
}

#[test]
fn value_outside_the_enum_lists_the_allowed_ones() {
    let mut node = community();
    let (_, field, problem, text) = refused(node.write(create_with(("category", json!("weather"))), NOW_MS));
    assert_eq!(field, "category");
    assert!(
        matches!(problem, Problem::NotInEnum { ref value, ref allowed } if value == "weather" && allowed.contains(&"safety".to_string()))
    );
    assert!(text.contains("`weather` is not one of [environment"), "{text}");
}

#[test]
fn illegal_status_move_is_refused_and_says_what_is_allowed() {
    let mut node = community();
    let key = new_request(&mut node, 0).key;
    let (record, field, problem, text) =
        refused(node.write(Write::set(key.clone(), &[("status", json!("resolved"))]), NOW_MS));
    assert_eq!(record, key.to_string());
    assert_eq!(field, "status");
    assert_eq!(
        problem,
        Problem::IllegalTransition {
            from: "reported".into(),
            to: "resolved".into(),
            allowed: vec!["dispatched".into(), "rejected".into()]
        }
    );
    assert!(text.contains("cannot move from `reported` to `resolved`"), "{text}");
    // A new record starts at the initial status.
    let (_, field, problem, _) = refused(node.write(create_with(("status", json!("closed"))), NOW_MS));
    assert_eq!(field, "status");
    assert_eq!(problem, Problem::StatusOnCreate { initial: "reported".into(), got: "closed".into() });
}

#[test]
fn reopening_a_resolved_request_is_a_legal_move() {
    let mut node = community();
    let key = new_request(&mut node, 0).key;
    for status in ["dispatched", "accepted", "resolved", "accepted"] {
        node.write(Write::set(key.clone(), &[("status", json!(status))]), NOW_MS).unwrap();
    }
    let record = node.replica.get(&node.store, &key).unwrap().unwrap();
    assert_eq!(record.get("status").and_then(|v| v.as_str()), Some("accepted"));
}

#[test]
fn string_over_its_bound_is_refused_with_its_length() {
    let mut node = community();
    let long = "鼓".repeat(501);
    let (_, field, problem, _) = refused(node.write(create_with(("summary", json!(long))), NOW_MS));
    assert_eq!(field, "summary");
    assert_eq!(problem, Problem::StringTooLong { chars: 501, chars_max: 500 });
}

#[test]
fn record_over_its_size_bound_is_refused() {
    let schema = parse_schema(
        "notes.toml",
        r#"
        name = "notes"
        shard = { by = "none" }
        record_bytes_max = 64
        [fields]
        a = { type = "string", chars_max = 100 }
        b = { type = "string", chars_max = 100 }
        "#,
    )
    .unwrap();
    let config = linli_core::replica::ReplicaConfig::new(
        linli_core::ids::NodeId::new(COMMUNITY).unwrap(),
        Scope::only(COMMUNITY),
    );
    let mut node = linli_core::replica::StoredReplica::open(
        config,
        Registries::from_schemas(vec![schema]),
        linli_core::store::MemoryStore::new(),
    )
    .unwrap();
    let key = node.write(Write::create(COMMUNITY, "notes", &[("a", json!("x".repeat(40)))]), NOW_MS).unwrap().key;
    let (record, field, problem, _) =
        refused(node.write(Write::set(key.clone(), &[("b", json!("y".repeat(40)))]), NOW_MS));
    assert_eq!(record, key.to_string());
    assert_eq!(field, "b");
    assert_eq!(problem, Problem::RecordTooLarge { bytes: 82, bytes_max: 64 });
}

#[test]
fn writing_another_communitys_shard_is_refused() {
    let mut node = community();
    let err = node.write(Write::create("lg-pingdi-xiangxi", "requests", &request_fields(0)), NOW_MS).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::NotOwner { ref doc, ref node, .. } if doc == "lg-pingdi-xiangxi/requests/2026-11" && node == COMMUNITY)
    );
    assert!(text.contains("may not write to document lg-pingdi-xiangxi/requests/2026-11"), "{text}");
}

#[test]
fn counters_only_add_up_and_claims_only_go_to_claim_fields() {
    let mut node = community();
    let fields = [("member", json!("m1")), ("team", json!("t1")), ("month_of", json!(NOW_MS as i64))];
    let sheet = node.write(Write::create(COMMUNITY, "volunteers", &fields), NOW_MS).unwrap().key;
    let (_, field, problem, _) = refused(
        node.write(Write::update(sheet.clone(), vec![FieldOp::Add { field: "hours".into(), delta: -3 }]), NOW_MS),
    );
    assert_eq!((field.as_str(), problem), ("hours", Problem::CounterNotPositive { delta: -3 }));
    let (_, field, problem, _) = refused(node.write(Write::set(sheet.clone(), &[("hours", json!(100))]), NOW_MS));
    assert_eq!(
        (field.as_str(), problem),
        ("hours", Problem::WrongOperation { field_type: "counter", operation: "set" })
    );
    let (_, field, problem, _) = refused(
        node.write(Write::update(sheet, vec![FieldOp::Claim { field: "team".into(), by: "v1".into() }]), NOW_MS),
    );
    assert_eq!(
        (field.as_str(), problem),
        ("team", Problem::WrongOperation { field_type: "string", operation: "claim" })
    );
}

#[test]
fn updating_a_record_that_does_not_exist_says_so() {
    let mut node = community();
    let key = RecordKey::parse("lg-pingdi-pingdi/requests/2026-11/r1.nobody").unwrap();
    let err = node.write(Write::set(key, &[("status", json!("dispatched"))]), NOW_MS).unwrap_err();
    assert_eq!(err.to_string(), "record lg-pingdi-pingdi/requests/2026-11/r1.nobody: not found");
}

#[test]
fn a_refused_write_leaves_no_trace_and_its_batch_mates_still_apply() {
    let mut node = community();
    let key = new_request(&mut node, 0).key;
    let heads_before = node.replica.heads(&node.store, &key.doc).unwrap();
    let seq_before = node.replica.next_seq();
    let views_before = node.replica.views().clone();
    // The bad write sets a good field first, then a bad one: neither may land.
    let bad = Write::set(key.clone(), &[("assignee", json!("someone")), ("status", json!("closed"))]);
    let results = node.write_many(vec![bad.clone()], NOW_MS).unwrap();
    assert!(results[0].is_err());
    assert_eq!(node.replica.heads(&node.store, &key.doc).unwrap(), heads_before);
    assert_eq!(node.replica.next_seq(), seq_before);
    assert_eq!(node.replica.views(), &views_before);

    let good = Write::set(key.clone(), &[("status", json!("dispatched"))]);
    let results = node.write_many(vec![bad, good], NOW_MS).unwrap();
    assert!(results[0].is_err() && results[1].is_ok());
    let record = node.replica.get(&node.store, &key).unwrap().unwrap();
    assert_eq!(record.get("status").and_then(|v| v.as_str()), Some("dispatched"));
    assert_eq!(record.get("assignee"), None);
}

fn schema_error(text: &str) -> String {
    parse_schema("registries/broken.toml", text).unwrap_err().to_string()
}

#[test]
fn a_bad_schema_file_fails_at_load_naming_file_registry_and_field() {
    let head = "name = \"broken\"\nshard = { by = \"month\" }\n";
    let err = schema_error(&format!("{head}[fields]\nsize = {{ type = \"float\" }}\n"));
    assert!(
        err.starts_with("schema file registries/broken.toml: registry `broken`, field `size`: unknown type `float`"),
        "{err}"
    );
    let err = schema_error(&format!("{head}[fields]\nkind = {{ type = \"enum\" }}\n"));
    assert!(err.contains("field `kind`: an enum needs a non-empty `values` list"), "{err}");
    let err = schema_error(&format!(
        "{head}[fields]\nstate = {{ type = \"enum\", values = [\"a\", \"b\"] }}\n[status]\nfield = \"state\"\ninitial = \"c\"\nmoves = []\n"
    ));
    assert!(err.contains("field `state`: status.initial `c` is not one of the field's values"), "{err}");
    let err = schema_error(&format!("{head}[fields]\nnote = {{ type = \"string\" }}\n[views]\ncount_by = \"note\"\n"));
    assert!(err.contains("field `note`: views.count_by needs a field of type enum"), "{err}");
    let err = schema_error(&format!(
        "{head}[fields]\nphone = {{ type = \"string\", local = true }}\n[views]\ncount_by = \"phone\"\n"
    ));
    assert!(err.contains("field `phone`"), "{err}");
    let err = schema_error(&format!("{head}[fields]\nn = {{ type = \"string\", min = 3 }}\n"));
    assert!(err.contains("field `n`: `min` does not apply to type string"), "{err}");
    let err = schema_error(&format!("{head}colour = 1\n[fields]\n"));
    assert!(err.contains("registries/broken.toml") && err.contains("colour"), "{err}");
    let err = schema_error(&format!("{head}[fields]\nk = {{ type = \"enum\", values = [\"a\", \"a\"] }}\n"));
    assert!(err.contains("enum value `a` is listed twice"), "{err}");
}

#[test]
fn the_shipped_registries_load_and_a_new_registry_is_just_a_file() {
    let registries = Registries::defaults().unwrap();
    let names: Vec<_> = registries.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["grids", "projects", "requests", "sites", "tasks", "volunteers"]);
    let parking = (
        "parking.toml",
        "name = \"parking\"\nshard = { by = \"year\" }\n[fields]\nplate = { type = \"string\", required = true }\n",
    );
    let loaded = Registries::from_texts([parking]).unwrap();
    assert!(loaded.get("parking").unwrap().fields["plate"].required);
    let bad = ("bad.toml", "name = \"bad\"\nshard = { by = \"week\" }\n[fields]\n");
    let err = Registries::from_texts([parking, bad]).unwrap_err().to_string();
    assert!(err.contains("bad.toml: registry `bad`, field `shard.by`: `week` is not month, year or none"), "{err}");
    let err = Registries::from_texts([parking, ("parking-again.toml", parking.1)]).unwrap_err().to_string();
    assert!(err.contains("parking-again.toml: registry `parking`"), "{err}");
    assert!(err.contains("another file declares the same registry"), "{err}");
}
