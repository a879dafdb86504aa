//! Splitting a community (see [`Event::Split`](super::Event::Split)): every record not
//! moved yet is copied to the new community its field value maps to, and the original
//! is marked as moved.
//! All or nothing: the input and the scope are checked before anything is touched,
//! and on any error every touched document is rolled back.

use super::{Effect, Replica};
use crate::doc::Record;
use crate::error::{Error, Result};
use crate::ids::{DocId, RecordKey};
use crate::store::{Storage, StoreBatch};
use crate::views::Dirty;
use std::collections::{BTreeMap, BTreeSet};

/// How a community is split: see [`Event::Split`](super::Event::Split).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitRule {
    /// The community being split.
    pub from: String,
    /// The field whose value picks a record's new community, e.g. `grid`.
    pub by_field: String,
    /// Field value -> new community.
    pub to: BTreeMap<String, String>,
    /// The new community of records whose value is unmapped or absent.
    pub default_to: Option<String>,
}

/// What a split did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitReport {
    /// Records moved, by new owner. Owners that received none are not listed.
    pub moved: BTreeMap<String, usize>,
    /// Records with no mapping and no default: left in place, still counted at `from`.
    pub left: usize,
}

/// A field value as a split's mapping names it: strings and enums as they are, other
/// types as their JSON (`5`, `true`, `"1234.50"` for yuan without the quotes).
pub fn split_value(value: &crate::value::Value) -> String {
    match value.to_json() {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

impl Replica {
    pub(super) fn split(&mut self, store: &dyn Storage, rule: &SplitRule, now_ms: u64) -> Vec<Effect> {
        let mut batch = StoreBatch::default();
        let mut dirty = Dirty::default();
        let result = self.split_records(store, rule, now_ms, &mut batch, &mut dirty);
        let (from, by_field) = (rule.from.as_str(), rule.by_field.as_str());
        match &result {
            Ok(report) => tracing::info!(from, by_field, moved = ?report.moved, left = report.left, "split"),
            Err(e) => tracing::warn!(from, by_field, error = %e, "split refused"),
        }
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch), Effect::Split { result }]
    }

    /// Checks a split's input and scope before anything is touched.
    fn check_split(&self, rule: &SplitRule) -> Result<()> {
        let (from, by_field, to, default_to) =
            (rule.from.as_str(), rule.by_field.as_str(), &rule.to, rule.default_to.as_deref());
        let bad = |field, reason: String| Error::Split { field, reason };
        crate::ids::check_owner(from).map_err(|e| bad("from", e.to_string()))?;
        if !self.registries.iter().any(|schema| schema.field(by_field).is_some_and(|spec| !spec.local)) {
            let reason = format!("no registry declares a replicated field `{by_field}`");
            return Err(bad("by_field", reason));
        }
        let targets =
            to.values().map(|owner| ("to", owner.as_str())).chain(default_to.map(|owner| ("default_to", owner)));
        let mut owners = BTreeSet::from([from]);
        for (field, owner) in targets {
            crate::ids::check_owner(owner).map_err(|e| bad(field, e.to_string()))?;
            if owner == from {
                return Err(bad(field, format!("`{owner}` is the community being split")));
            }
            owners.insert(owner);
        }
        if owners.len() == 1 {
            return Err(bad("to", "names no new community, and there is no default_to".into()));
        }
        for owner in owners {
            if !self.config.scope.allows(owner) {
                return Err(Error::NotOwner {
                    record: format!("{owner}/*/*/*"),
                    doc: format!("{owner}/*/*"),
                    node: self.config.node.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The split itself: copies and marks in the documents' open transactions, then
    /// commits them all into `batch`. On any error every touched document is rolled
    /// back and nothing reaches `batch`.
    fn split_records(
        &mut self,
        store: &dyn Storage,
        rule: &SplitRule,
        now_ms: u64,
        batch: &mut StoreBatch,
        dirty: &mut Dirty,
    ) -> Result<SplitReport> {
        self.check_split(rule)?;
        let at = self.clock.now(now_ms);
        let mut report = SplitReport::default();
        let mut touched = BTreeSet::new();
        if let Err(e) = self.split_apply(store, rule, &mut touched, &mut report) {
            self.split_undo(&touched, &BTreeSet::new());
            return Err(e);
        }
        let mut committed = Vec::with_capacity(touched.len());
        for doc_id in &touched {
            let Some(cached) = self.docs.get_mut(doc_id) else { continue };
            match cached.doc.commit(at) {
                Ok(Some(change)) => committed.push((doc_id.clone(), change)),
                Ok(None) => {
                    cached.doc.take_row_changes();
                }
                Err(e) => {
                    // Unreachable in practice (the same as a write's commit). All or
                    // nothing: documents already committed are dropped from the cache
                    // and reload from the store, which has none of this split.
                    let done: BTreeSet<DocId> = committed.into_iter().map(|(doc, _)| doc).collect();
                    self.split_undo(&touched, &done);
                    return Err(e);
                }
            }
        }
        for (doc_id, change) in committed {
            self.log_changes(&doc_id, None, vec![change], &[], batch, dirty);
        }
        Ok(report)
    }

    /// Applies a split's copies and marks to open transactions.
    fn split_apply(
        &mut self,
        store: &dyn Storage,
        rule: &SplitRule,
        touched: &mut BTreeSet<DocId>,
        report: &mut SplitReport,
    ) -> Result<()> {
        let (from, by_field, to, default_to) =
            (rule.from.as_str(), rule.by_field.as_str(), &rule.to, rule.default_to.as_deref());
        let sources: Vec<DocId> = self.known_docs.iter().filter(|doc| doc.owner == from).cloned().collect();
        for source in sources {
            let schema = self.registries.get(&source.registry)?.clone();
            let by = schema.field(by_field).filter(|spec| !spec.local).map(|spec| spec.name.clone());
            let Some(doc) = self.doc_mut(store, &source, false)? else { continue };
            let mut moves: Vec<(Record, RecordKey)> = Vec::new();
            for id in doc.record_ids() {
                if doc.is_moved(&id) {
                    continue;
                }
                let Some(record) = doc.get(&id) else { continue };
                let value = by.as_deref().and_then(|field| record.get(field)).map(split_value);
                match value.and_then(|value| to.get(&value)).map(String::as_str).or(default_to) {
                    Some(owner) => {
                        let copy = RecordKey::new(DocId::new(owner, &source.registry, &source.shard)?, &id)?;
                        moves.push((record, copy));
                    }
                    None => report.left += 1,
                }
            }
            let missing = |doc: &DocId| Error::RecordNotFound { record: doc.to_string() };
            for (record, copy) in moves {
                touched.insert(copy.doc.clone());
                let target = self.doc_mut(store, &copy.doc, true)?.ok_or_else(|| missing(&copy.doc))?;
                // Already there (a split run elsewhere got here first): only mark.
                target.insert_copy(&record)?;
                touched.insert(source.clone());
                let original = self.doc_mut(store, &source, false)?.ok_or_else(|| missing(&source))?;
                original.mark_moved(&record.key.id, &copy)?;
                *report.moved.entry(copy.doc.owner.clone()).or_default() += 1;
            }
        }
        Ok(())
    }

    /// Undoes a failed split: open transactions roll back; documents in `committed`
    /// leave the cache, to reload from the store.
    fn split_undo(&mut self, touched: &BTreeSet<DocId>, committed: &BTreeSet<DocId>) {
        for doc_id in touched {
            if committed.contains(doc_id) {
                self.docs.remove(doc_id);
            } else if let Some(cached) = self.docs.get_mut(doc_id) {
                cached.doc.rollback();
            }
        }
    }
}
