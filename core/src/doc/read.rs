//! Typed reads of a record map, driven by the schema.

use crate::doc::Claims;
use crate::hlc::Hlc;
use crate::schema::{FieldType, Schema};
use crate::value::Value;
use automerge::{AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, ScalarValueRef, Value as AmValue, ValueRef};
use std::collections::BTreeMap;

fn scalar(doc: &AutoCommit, rec: &ObjId, field: &str) -> Option<ScalarValue> {
    match doc.get(rec, field) {
        Ok(Some((AmValue::Scalar(s), _))) => Some(s.into_owned()),
        _ => None,
    }
}

fn object(doc: &AutoCommit, rec: &ObjId, field: &str, kind: ObjType) -> Option<ObjId> {
    match doc.get(rec, field) {
        Ok(Some((AmValue::Object(k), id))) if k == kind => Some(id),
        _ => None,
    }
}

/// Reads one field as its schema type. A value of another type (written by a newer
/// schema, or by hand) reads as absent rather than failing the whole record.
pub fn field(doc: &AutoCommit, rec: &ObjId, name: &str, ty: &FieldType) -> Option<Value> {
    match ty {
        FieldType::String { .. } => match scalar(doc, rec, name)? {
            ScalarValue::Str(s) => Some(Value::Str(s.to_string())),
            _ => None,
        },
        FieldType::Enum { .. } => match scalar(doc, rec, name)? {
            ScalarValue::Str(s) => Some(Value::Enum(s.to_string())),
            _ => None,
        },
        FieldType::Int { .. } => scalar_int(doc, rec, name).map(Value::Int),
        FieldType::Yuan { .. } => scalar_int(doc, rec, name).map(Value::Fen),
        FieldType::Timestamp => scalar_int(doc, rec, name).map(Value::TimeMs),
        FieldType::Bool => match scalar(doc, rec, name)? {
            ScalarValue::Boolean(b) => Some(Value::Bool(b)),
            _ => None,
        },
        FieldType::Counter => match scalar(doc, rec, name)? {
            ScalarValue::Counter(c) => Some(Value::Counter(i64::from(&c))),
            _ => None,
        },
        FieldType::Ids { .. } => {
            let list = object(doc, rec, name, ObjType::List)?;
            let ids = doc.list_range(&list, ..).filter_map(|item| value_str(&item.value)).collect();
            Some(Value::Ids(ids))
        }
        FieldType::Claim => None,
    }
}

fn value_str(value: &ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Scalar(ScalarValueRef::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn scalar_int(doc: &AutoCommit, rec: &ObjId, name: &str) -> Option<i64> {
    match scalar(doc, rec, name)? {
        ScalarValue::Int(v) | ScalarValue::Timestamp(v) => Some(v),
        _ => None,
    }
}

/// A claim map's key: the claim's HLC in fixed-width hex, then the claiming node, so
/// that the smallest key is the winner: earliest HLC, then lowest node id.
pub fn claim_key(at: Hlc, node: &str) -> String {
    if cfg!(feature = "broken-merge") {
        // Test-only, to show the simulator's checks can fail: every claim under one
        // key, so a second claim overwrites the first (last writer wins) instead of
        // both being kept.
        return "0000000000000000.broken-merge".to_string();
    }
    format!("{:016x}.{node}", at.0)
}

pub fn claims(doc: &AutoCommit, rec: &ObjId, name: &str) -> Option<Claims> {
    let map = object(doc, rec, name, ObjType::Map)?;
    let mut entries = Vec::new();
    for item in doc.map_range(&map, ..) {
        let Some((at, node)) = item.key.split_once('.') else {
            continue;
        };
        let Ok(at) = u64::from_str_radix(at, 16) else {
            continue;
        };
        let Some(by) = value_str(&item.value) else {
            continue;
        };
        entries.push(crate::doc::Claim { at: Hlc(at), node: node.to_string(), by });
    }
    // map_range yields keys in order, so the first entry is the winner.
    Some(Claims { entries })
}

/// A system field ([`super::MOVED_TO`], [`super::SPLIT_FROM`]): a string, or absent.
pub fn system(doc: &AutoCommit, rec: &ObjId, name: &str) -> Option<String> {
    match scalar(doc, rec, name)? {
        ScalarValue::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

/// All fields of a record that the document holds, typed by the schema, and the
/// system fields a split sets, as strings.
pub fn fields(doc: &AutoCommit, rec: &ObjId, schema: &Schema) -> (BTreeMap<String, Value>, BTreeMap<String, Claims>) {
    let mut values = BTreeMap::new();
    let mut claim_fields = BTreeMap::new();
    for spec in schema.fields.values().filter(|f| !f.local) {
        if spec.ty == FieldType::Claim {
            if let Some(c) = claims(doc, rec, &spec.name) {
                claim_fields.insert(spec.name.clone(), c);
            }
        } else if let Some(v) = field(doc, rec, &spec.name, &spec.ty) {
            values.insert(spec.name.clone(), v);
        }
    }
    for name in [super::MOVED_TO, super::SPLIT_FROM] {
        if let Some(key) = system(doc, rec, name) {
            values.insert(name.to_string(), Value::Str(key));
        }
    }
    (values, claim_fields)
}
