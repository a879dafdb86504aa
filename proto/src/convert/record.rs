//! `GetReply.record_json` -> `linli_core::doc::Record`.
//!
//! A record travels as the JSON of [`Record::to_json`]: its key, each field as its
//! value's JSON, and for a claim field the winner plus `<field>_claims`, every claim in
//! order. Values are typed again by the record's registry schema, so a client reads the
//! same `Value`s the server holds. The HLC of a claim is not on the wire: a claim read
//! back has `at` 0, and its place in the list still says who won.

use crate::ProtoError;
use linli_core::doc::{Claim, Claims, MOVED_TO, Record, SPLIT_FROM};
use linli_core::hlc::Hlc;
use linli_core::ids::RecordKey;
use linli_core::schema::{FieldType, Registries};
use linli_core::value::{self, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

const MESSAGE: &str = "GetReply";

/// The record in `text`, typed by its registry in `registries`.
pub fn record_from_json(registries: &Registries, text: &str) -> Result<Record, ProtoError> {
    let bad = |field: &str, reason: String| ProtoError::BadJson { message: MESSAGE, field: field.to_string(), reason };
    let json: Json = serde_json::from_str(text).map_err(|e| bad("record_json", e.to_string()))?;
    let object = json.as_object().ok_or_else(|| bad("record_json", "not an object".into()))?;
    let key = object.get("key").and_then(Json::as_str).ok_or(ProtoError::Missing { message: MESSAGE, field: "key" })?;
    let key =
        RecordKey::parse(key).map_err(|source| ProtoError::Core { message: MESSAGE, source: Box::new(source) })?;
    let schema = registries
        .get(&key.doc.registry)
        .map_err(|source| ProtoError::Core { message: MESSAGE, source: Box::new(source) })?;
    let mut fields = BTreeMap::new();
    let mut claims = BTreeMap::new();
    for (name, json) in object {
        if name == "key" || name.strip_suffix("_claims").is_some_and(|f| schema.field(f).is_some()) {
            continue;
        }
        if name == MOVED_TO || name == SPLIT_FROM {
            let text = json.as_str().ok_or_else(|| bad(name, "not a record key".into()))?;
            fields.insert(name.clone(), Value::Str(text.to_string()));
            continue;
        }
        let spec = schema.field(name).ok_or_else(|| bad(name, format!("not a field of {}", key.doc.registry)))?;
        match &spec.ty {
            FieldType::Claim => {
                let list = object.get(&format!("{name}_claims")).and_then(Json::as_array);
                let entries = list.map(|l| l.iter().map(|c| claim(name, c)).collect()).transpose()?.unwrap_or_default();
                claims.insert(name.clone(), Claims { entries });
            }
            FieldType::Counter => {
                let count = json.as_i64().ok_or_else(|| bad(name, "a counter is an integer".into()))?;
                fields.insert(name.clone(), Value::Counter(count));
            }
            ty => {
                let value = value::parse(ty, json).map_err(|problem| bad(name, problem.to_string()))?;
                fields.insert(name.clone(), value);
            }
        }
    }
    Ok(Record { key, fields, claims })
}

fn claim(field: &str, json: &Json) -> Result<Claim, ProtoError> {
    let text = |part: &str| {
        json.get(part).and_then(Json::as_str).map(str::to_string).ok_or_else(|| ProtoError::BadJson {
            message: MESSAGE,
            field: format!("{field}_claims"),
            reason: format!("a claim without `{part}`"),
        })
    };
    Ok(Claim { at: Hlc(0), node: text("node")?, by: text("by")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registries() -> Registries {
        Registries::defaults().expect("registries")
    }

    #[test]
    fn a_record_reads_back_with_its_types_and_claims_in_order() {
        let key = RecordKey::parse("lg-s1-c1/tasks/2026-11/t1.lg-s1-c1").expect("key");
        let schema = registries().get("tasks").expect("tasks").clone();
        let claim_field = schema.fields.values().find(|f| f.ty == FieldType::Claim).expect("a claim field");
        let mut record = Record { key, fields: BTreeMap::new(), claims: BTreeMap::new() };
        for spec in schema.fields.values() {
            let value = match &spec.ty {
                FieldType::String { .. } => Value::Str("修路灯".into()),
                FieldType::Int { min, .. } => Value::Int(*min),
                FieldType::Yuan { .. } => Value::Fen(123_450),
                FieldType::Timestamp => Value::TimeMs(1_795_320_000_000),
                FieldType::Bool => Value::Bool(true),
                FieldType::Enum { values } => Value::Enum(values[0].clone()),
                FieldType::Counter => Value::Counter(7),
                FieldType::Ids { .. } => Value::Ids(vec!["a".into(), "b".into()]),
                FieldType::Claim => continue,
            };
            record.fields.insert(spec.name.clone(), value);
        }
        let entries = vec![
            Claim { at: Hlc(0), node: "lg-s1-c1".into(), by: "lg-s1-c1-volunteers".into() },
            Claim { at: Hlc(0), node: "lg-s1".into(), by: "lg-s1-party".into() },
        ];
        record.claims.insert(claim_field.name.clone(), Claims { entries });
        let text = record.to_json().to_string();
        assert_eq!(record_from_json(&registries(), &text).expect("parse"), record);
    }

    #[test]
    fn a_bad_record_says_which_field() {
        let err = record_from_json(&registries(), r#"{"key":"lg-s1-c1/requests/2026-11/r1.lg-s1-c1","status":7}"#)
            .expect_err("a number for an enum");
        assert!(err.to_string().contains("`status`"), "{err}");
        let err = record_from_json(&registries(), r#"{"key":"lg-s1-c1/requests/2026-11/r1.lg-s1-c1","colour":"red"}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("colour"), "{err}");
        let err = record_from_json(&registries(), r#"{"status":"open"}"#).expect_err("no key");
        assert!(err.to_string().contains("`key` is missing"), "{err}");
    }
}
