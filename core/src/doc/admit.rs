//! Admission of a peer's changes: what the schema and the tree allow a change to do,
//! checked on what the change did to the document before any of it is kept.
//!
//! A peer is trusted with the bytes of its own subtree only. Its changes pass three
//! rules besides the time bound ([`crate::Error::ClockAhead`]):
//! - **Actor.** A change new here is written under an Automerge actor of the form
//!   `<node>.<incarnation>` (see `Replica::actor`). From a child, a change under the
//!   actor of this node or of a node below another of its children is refused: the
//!   child could only have forged it (this node and its other children send their own
//!   changes themselves). Actors of nodes above this node, or of a street a community
//!   left, are taken: a community that moved brings its street's and the district's
//!   edits of its records, which its new street has from no one else.
//! - **Schema.** Every edit lands on a declared, replicated field of a record in the
//!   `records` list, with the declared type (and enum value, range, length); nothing
//!   outside a record, no `local` (personal) field, no removal of a record. A record's
//!   map may hold only the schema's fields and the system fields.
//! - **Shard.** The document's shard is one its registry's rule produces (checked by
//!   the engine before the document is created, see [`Schema::shard_is_valid`]).
//!
//! The checks read the patches of the merge (what became visible), so a change is
//! judged by its effect in this document: an edit that a later change of the same
//! merge undoes (a record added and removed in one batch) leaves nothing to judge, and
//! nothing behind. A refusal drops the whole merge of the document: the engine
//! reloads it from the store, which holds it as it was.

use super::{MOVED_TO, RECORD_ID, RegistryDoc, SPLIT_FROM};
use crate::error::{Error, Result};
use crate::schema::{FieldSpec, FieldType, Schema};
use automerge::{ActorId, ObjType, Patch, PatchAction, Prop, ScalarValue, Value};
use std::collections::BTreeSet;

/// The node an actor of the form `<node>.<incarnation hex>` (or `….q` for a
/// quarantined document's actor) writes for, if it has that form.
pub fn actor_node(actor: &ActorId) -> Option<String> {
    let text = std::str::from_utf8(actor.to_bytes()).ok()?;
    let text = text.strip_suffix(".q").unwrap_or(text);
    let (node, incarnation) = text.rsplit_once('.')?;
    let hex = !incarnation.is_empty() && incarnation.bytes().all(|b| b.is_ascii_hexdigit());
    (hex && !node.is_empty()).then(|| node.to_string())
}

/// `Err` naming the rule when `actor` writes for one of `refused` (see the module docs).
pub fn check_actor(doc: &str, actor: &ActorId, refused: &BTreeSet<String>) -> Result<()> {
    match actor_node(actor) {
        Some(node) if refused.contains(&node) => Err(Error::Inadmissible {
            doc: doc.to_string(),
            rule: format!(
                "a change under the actor of `{node}` came from a peer that may not write for it \
                 (rule: a child sends changes of its own subtree's actors only)"
            ),
        }),
        _ => Ok(()),
    }
}

impl RegistryDoc {
    /// `Err` naming the first rule a patch of a peer's merge breaks.
    pub(super) fn admit(&self, patches: &[Patch]) -> Result<()> {
        let refuse = |rule: String| Err(Error::Inadmissible { doc: self.id.to_string(), rule });
        for patch in patches {
            let in_records = patch.path.get(1).is_some_and(|(obj, _)| *obj == self.records);
            match patch.path.len() {
                0 => {
                    return refuse(format!(
                        "the root holds only `records`; a change edits it ({:?})",
                        kind(&patch.action)
                    ));
                }
                1 if patch.obj == self.records => match &patch.action {
                    PatchAction::Insert { values, .. } => {
                        if values.iter().any(|(value, _, _)| !matches!(value, Value::Object(ObjType::Map))) {
                            return refuse("`records` holds record maps only; a change inserts something else".into());
                        }
                    }
                    other => return refuse(format!("records are only ever added; a change does {}", kind(other))),
                },
                2 if in_records => self.admit_record_edit(&patch.action).or_else(&refuse)?,
                3 if in_records => {
                    let field = match &patch.path[2].1 {
                        Prop::Map(field) => field.as_str(),
                        Prop::Seq(_) => return refuse("a record is a map; a change edits it as a list".into()),
                    };
                    self.admit_inner_edit(field, &patch.action).or_else(&refuse)?
                }
                _ => return refuse("a change edits an object that is no record's field".into()),
            }
        }
        Ok(())
    }

    /// An edit of a record's own map: a declared field, or a system one.
    fn admit_record_edit(&self, action: &PatchAction) -> Result<(), String> {
        match action {
            PatchAction::PutMap { key, value: (value, _), .. } => match key.as_str() {
                RECORD_ID | MOVED_TO | SPLIT_FROM => match value {
                    Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(_)) => Ok(()),
                    _ => Err(format!("system field `{key}` holds a string; a change puts {}", describe(value))),
                },
                field => check_value(declared(&self.schema, field)?, value),
            },
            PatchAction::Increment { prop: Prop::Map(field), .. } => match declared(&self.schema, field)?.ty {
                FieldType::Counter => Ok(()),
                _ => Err(format!("field `{field}` is not a counter; a change increments it")),
            },
            PatchAction::Conflict { prop: Prop::Map(field) } => match field.as_str() {
                RECORD_ID | MOVED_TO | SPLIT_FROM => Ok(()),
                field => declared(&self.schema, field).map(|_| ()),
            },
            PatchAction::DeleteMap { key } => match key.as_str() {
                RECORD_ID | MOVED_TO | SPLIT_FROM => {
                    Err(format!("system field `{key}` is never removed; a change removes it"))
                }
                field => declared(&self.schema, field).map(|_| ()),
            },
            other => Err(format!("a record is a map; a change does {}", kind(other))),
        }
    }

    /// An edit inside a field's object: an `ids` list of strings, or a claim map.
    fn admit_inner_edit(&self, field: &str, action: &PatchAction) -> Result<(), String> {
        let spec = declared(&self.schema, field)?;
        let is_str = |value: &Value| matches!(value, Value::Scalar(s) if matches!(s.as_ref(), ScalarValue::Str(_)));
        let fits = match (&spec.ty, action) {
            (FieldType::Ids { .. }, PatchAction::Insert { values, .. }) => values.iter().all(|(v, _, _)| is_str(v)),
            (FieldType::Ids { .. }, PatchAction::PutSeq { value: (v, _), .. }) => is_str(v),
            (FieldType::Ids { .. }, PatchAction::DeleteSeq { .. } | PatchAction::Conflict { .. }) => true,
            (FieldType::Claim, PatchAction::PutMap { value: (v, _), .. }) => is_str(v),
            (FieldType::Claim, PatchAction::DeleteMap { .. } | PatchAction::Conflict { .. }) => true,
            _ => false,
        };
        match fits {
            true => Ok(()),
            false => Err(format!("field `{field}` is {}; a change does {} inside it", spec.ty.name(), kind(action))),
        }
    }
}

/// The spec of a field a peer's change may touch: declared and not personal.
fn declared<'a>(schema: &'a Schema, field: &str) -> Result<&'a FieldSpec, String> {
    match schema.field(field) {
        None => Err(format!("registry `{}` declares no field `{field}`", schema.name)),
        Some(spec) if spec.local => {
            Err(format!("field `{field}` is personal (local): it never leaves its community's node"))
        }
        Some(spec) => Ok(spec),
    }
}

/// `Err` naming the field's type when a value put on it is not of that type.
fn check_value(spec: &FieldSpec, value: &Value) -> Result<(), String> {
    let scalar = match value {
        Value::Scalar(s) => Some(s.as_ref()),
        Value::Object(_) => None,
    };
    let fits = match (&spec.ty, scalar) {
        (FieldType::String { chars_max }, Some(ScalarValue::Str(s))) => s.chars().count() <= *chars_max,
        (FieldType::Int { min, max }, Some(ScalarValue::Int(v))) => (*min..=*max).contains(v),
        (FieldType::Yuan { fen_max }, Some(ScalarValue::Int(v))) => (0..=*fen_max).contains(v),
        (FieldType::Timestamp, Some(ScalarValue::Timestamp(_))) => true,
        (FieldType::Bool, Some(ScalarValue::Boolean(_))) => true,
        (FieldType::Enum { values }, Some(ScalarValue::Str(s))) => values.iter().any(|v| v == s.as_str()),
        (FieldType::Counter, Some(ScalarValue::Counter(_))) => true,
        (FieldType::Ids { .. }, None) => matches!(value, Value::Object(ObjType::List)),
        (FieldType::Claim, None) => matches!(value, Value::Object(ObjType::Map)),
        _ => false,
    };
    match fits {
        true => Ok(()),
        false => Err(format!("field `{}` is {}; a change puts {}", spec.name, spec.ty.name(), describe(value))),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Object(ty) => format!("a {ty:?} object"),
        Value::Scalar(s) => format!("{s:?}"),
    }
}

fn kind(action: &PatchAction) -> &'static str {
    match action {
        PatchAction::PutMap { .. } => "a put on a map",
        PatchAction::PutSeq { .. } => "a put in a list",
        PatchAction::Insert { .. } => "an insert into a list",
        PatchAction::SpliceText { .. } => "a text splice",
        PatchAction::Increment { .. } => "an increment",
        PatchAction::Conflict { .. } => "a conflict",
        PatchAction::DeleteMap { .. } => "a delete from a map",
        PatchAction::DeleteSeq { .. } => "a delete from a list",
        PatchAction::Mark { .. } => "a text mark",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_names_its_node_before_the_incarnation() {
        let node = |actor: &str| actor_node(&ActorId::from(actor.as_bytes()));
        assert_eq!(node("lg-pingdi.1f").as_deref(), Some("lg-pingdi"));
        assert_eq!(node("lg.pingdi.a.q").as_deref(), Some("lg.pingdi"));
        assert_eq!(node("linli-genesis"), None);
        assert_eq!(node("lg-pingdi.zz"), None);
        assert_eq!(node(".1"), None);
    }
}
