//! Late changes to a moved record: what a peer's change did to a record that a split
//! had already moved away, so that the node that ran the split can carry it over to
//! the copy (see `docs/split.md`, "Changes that arrive after a split").
//!
//! A community writes its records until it hears of a split. What it wrote before
//! then reaches the split's node after the split and lands on the original, which is
//! history: without this the write would be acknowledged and then missing from the
//! record that counts. The node that ran the split sees the change's patches on the
//! original and writes the same edits to the copy: a counter's increment as the same
//! increment, a claim under its own key (so the same claimant still wins), a field's
//! new value only where the copy still holds what the split (or an earlier
//! carry-over) put there. A copy's field that its new community wrote since was
//! written after the split by someone who had seen it; the late change was made
//! before its writer heard of the split, so the copy's later write stands. No clock is
//! compared: which write is later follows from who wrote the copy's field, not from
//! any node's time.

use super::{DocOp, MOVED_TO, RECORD_ID, Record, RegistryDoc, SPLIT_FROM, read};
use crate::schema::FieldType;
use automerge::{ObjId, PatchAction, Prop, ReadDoc};
use std::collections::BTreeSet;

/// What a peer's changes did to a record that was moved before they came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LateEdit {
    /// The original's id.
    pub record: String,
    /// Fields given a new value (the merged winner is read from the original).
    pub puts: BTreeSet<String>,
    /// Counter increments, in patch order.
    pub adds: Vec<(String, i64)>,
    /// Claim fields that gained claims.
    pub claims: BTreeSet<String>,
}

impl LateEdit {
    /// The edit of `record` by `actions` (patches on the record's map) and `nested`
    /// (fields with patches inside them), if it touched a replicated field.
    pub(super) fn from_patches(
        doc: &RegistryDoc,
        record: &str,
        actions: &[PatchAction],
        nested: Option<&BTreeSet<String>>,
    ) -> Option<Self> {
        let mut edit = LateEdit { record: record.to_string(), ..LateEdit::default() };
        let mut note = |name: &str, add: Option<i64>| {
            if [RECORD_ID, MOVED_TO, SPLIT_FROM].contains(&name) {
                return;
            }
            let Some(spec) = doc.schema.field(name).filter(|spec| !spec.local) else { return };
            match (&spec.ty, add) {
                (FieldType::Counter, Some(delta)) => edit.adds.push((name.to_string(), delta)),
                (FieldType::Claim, _) => {
                    edit.claims.insert(name.to_string());
                }
                (_, None) => {
                    edit.puts.insert(name.to_string());
                }
                (_, Some(_)) => {}
            }
        };
        for action in actions {
            match action {
                PatchAction::PutMap { key, .. } => note(key, None),
                PatchAction::Increment { prop: Prop::Map(key), value } => note(key, Some(*value)),
                _ => {}
            }
        }
        for name in nested.into_iter().flatten() {
            note(name, None);
        }
        let empty = edit.puts.is_empty() && edit.adds.is_empty() && edit.claims.is_empty();
        (!empty).then_some(edit)
    }
}

impl RegistryDoc {
    /// The node whose split set the record's [`MOVED_TO`]: the one that carries late
    /// changes over (actors are `<node>.<start>`, see `Replica::actor`).
    pub fn moved_by(&self, record: &str) -> Option<String> {
        let rec = self.record_obj(record)?;
        writer_node(self.am.get(&rec, MOVED_TO).ok().flatten().map(|(_, id)| id))
    }

    /// The ops that carry `edit` (made on `original`, a record of another document)
    /// over to this document's copy `record`, written as `node`. Empty when there is
    /// nothing left to carry: see the module docs for the rule.
    pub fn late_ops(&self, record: &str, original: &Record, edit: &LateEdit, node: &str) -> Vec<DocOp> {
        let Some(copy) = self.record_obj(record) else { return Vec::new() };
        let mut ops = Vec::new();
        for name in &edit.puts {
            let Some(value) = original.get(name) else { continue };
            let writer = writer_node(self.am.get(&copy, name.as_str()).ok().flatten().map(|(_, id)| id));
            // Unset, or set by the split's node (the copy, or an earlier carry-over):
            // nobody wrote it since. Another writer saw the split: its value stands.
            if writer.is_none_or(|writer| writer == node) {
                ops.push(DocOp::Put(name.clone(), value.clone()));
            }
        }
        for (name, delta) in &edit.adds {
            ops.push(DocOp::Add(name.clone(), *delta));
        }
        for name in &edit.claims {
            let held: BTreeSet<String> = claim_keys(self, &copy, name);
            let Some(claims) = original.claims.get(name) else { continue };
            for claim in &claims.entries {
                let key = read::claim_key(claim.at, &claim.node);
                if !held.contains(&key) {
                    ops.push(DocOp::ClaimAs(name.clone(), key, claim.by.clone()));
                }
            }
        }
        ops
    }
}

/// The keys of a claim map of a record.
fn claim_keys(doc: &RegistryDoc, rec: &ObjId, name: &str) -> BTreeSet<String> {
    match doc.am.get(rec, name) {
        Ok(Some((automerge::Value::Object(automerge::ObjType::Map), map))) => {
            doc.am.map_range(&map, ..).map(|item| item.key.to_string()).collect()
        }
        _ => BTreeSet::new(),
    }
}

/// The node of the actor that wrote an op.
fn writer_node(op: Option<automerge::ObjId>) -> Option<String> {
    let automerge::ObjId::Id(_, actor, _) = op? else { return None };
    let actor = String::from_utf8(actor.as_ref().to_vec()).ok()?;
    Some(actor.rsplit_once('.').map_or(actor.as_str(), |(node, _)| node).to_string())
}
