//! Reads: a record with its local fields, lists and pages of a registry, and the
//! checks that compare replicas (a recount of the views from storage, every document
//! as JSON, a document's heads). Reads load documents into the cache but change
//! nothing that is persisted, except that a document they find unreadable is
//! quarantined: its new snapshot and the views' recount go with the next batch.

use super::Replica;
use crate::doc::{Record, RegistryDoc};
use crate::error::{Error, Result};
use crate::ids::{DocId, RecordKey};
use crate::schema::FieldType;
use crate::store::Storage;
use crate::views::Views;
use std::collections::BTreeMap;

impl Replica {
    /// A record as this node holds it, with its local fields when it has them.
    pub fn get(&mut self, store: &dyn Storage, key: &RecordKey) -> Result<Option<Record>> {
        let record = self.get_unsettled(store, key);
        self.settle_after_read(store)?;
        record
    }

    fn get_unsettled(&mut self, store: &dyn Storage, key: &RecordKey) -> Result<Option<Record>> {
        let Some(doc) = self.doc_mut(store, &key.doc, false)? else {
            return Ok(None);
        };
        let Some(mut record) = doc.get(&key.id) else {
            return Ok(None);
        };
        let schema = doc.schema().clone();
        for (field, json) in store.local_fields(key)? {
            if let Some(spec) = schema.field(&field).filter(|s| s.local && s.ty != FieldType::Claim) {
                let value = crate::value::parse(&spec.ty, &json).map_err(|problem| Error::Invalid {
                    record: key.to_string(),
                    field: field.clone(),
                    problem,
                })?;
                record.fields.insert(field, value);
            }
        }
        Ok(Some(record))
    }

    /// Records of `owner`'s `registry` whose fields equal every `(field, value)` of
    /// `filter`, in document then record order, at most `limit`. Local fields are not
    /// returned by lists.
    pub fn list(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        filter: &[(String, crate::value::Value)],
        limit: usize,
    ) -> Result<Vec<Record>> {
        let records = self.list_unsettled(store, owner, registry, filter, limit);
        self.settle_after_read(store)?;
        records
    }

    fn list_unsettled(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        filter: &[(String, crate::value::Value)],
        limit: usize,
    ) -> Result<Vec<Record>> {
        let docs: Vec<DocId> =
            self.known_docs.iter().filter(|d| d.owner == owner && d.registry == registry).cloned().collect();
        let mut out = Vec::new();
        for doc_id in docs {
            let Some(doc) = self.doc_mut(store, &doc_id, false)? else {
                continue;
            };
            for id in doc.record_ids() {
                if out.len() >= limit {
                    return Ok(out);
                }
                if let Some(record) = doc.get(&id)
                    && filter.iter().all(|(field, value)| record.get(field) == Some(value))
                {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// A page of `owner`'s `registry` for drill-down: the records after `after` (a record
    /// key of the previous page) in document then record order, at most `limit`.
    /// Reads only the documents the page needs; local fields are not returned.
    pub fn list_page(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        let records = self.list_page_unsettled(store, owner, registry, after, limit);
        self.settle_after_read(store)?;
        records
    }

    fn list_page_unsettled(
        &mut self,
        store: &dyn Storage,
        owner: &str,
        registry: &str,
        after: Option<&RecordKey>,
        limit: usize,
    ) -> Result<Vec<Record>> {
        self.registries.get(registry)?;
        let docs: Vec<DocId> = self
            .known_docs
            .iter()
            .filter(|d| d.owner == owner && d.registry == registry && after.is_none_or(|a| **d >= a.doc))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for doc_id in docs {
            let Some(doc) = self.doc_mut(store, &doc_id, false)? else {
                continue;
            };
            for id in doc.record_ids() {
                if after.is_some_and(|a| a.doc == doc_id && id <= a.id) {
                    continue;
                }
                if out.len() >= limit {
                    return Ok(out);
                }
                // A record a split moved away is history, shown at its new community.
                if doc.is_moved(&id) {
                    continue;
                }
                if let Some(record) = doc.get(&id) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// The views recounted from every document this node holds. Must equal
    /// [`Replica::views`]; used by tests, the simulator's checks and operators.
    pub fn recount(&mut self, store: &dyn Storage) -> Result<Views> {
        Ok(self.recount_with_writes(store)?.0)
    }

    /// [`Self::recount`], with the writes that store every entry of it.
    pub(super) fn recount_with_writes(&mut self, store: &dyn Storage) -> Result<(Views, Vec<crate::views::ViewWrite>)> {
        let ids: Vec<DocId> = self.known_docs.iter().cloned().collect();
        let mut docs = Vec::with_capacity(ids.len());
        for id in ids {
            let schema = self.registries.get(&id.registry)?.clone();
            // Read from storage, not the cache: this also checks what a restart would see.
            let stored = store.load_doc(&id)?.unwrap_or_default();
            let chunks: Vec<&[u8]> = stored.chunks.iter().map(|(_, c)| c.as_slice()).collect();
            let snapshot = stored.snapshot.as_ref().map(|(_, s)| s.as_slice());
            let doc = match RegistryDoc::load(id.clone(), schema.clone(), &self.actor, snapshot, &chunks) {
                Ok(doc) => doc,
                // What a restart would see: the document quarantined, as far as it reads.
                Err(_) => self.salvage(store, &id, schema.clone(), &stored)?.doc,
            };
            docs.push((schema, doc));
        }
        let rows = docs.iter().flat_map(|(schema, doc)| {
            doc.rows().iter().map(move |(record, row)| (schema.as_ref(), doc.id(), record.as_str(), row))
        });
        Ok(Views::rebuild_with_writes(rows))
    }

    /// Every document as JSON, for comparing replicas.
    pub fn materialize(&mut self, store: &dyn Storage) -> Result<BTreeMap<String, serde_json::Value>> {
        let ids: Vec<DocId> = self.known_docs.iter().cloned().collect();
        let mut out = BTreeMap::new();
        for id in ids {
            if let Some(doc) = self.doc_mut(store, &id, false)? {
                out.insert(id.to_string(), doc.materialize());
            }
        }
        self.settle_after_read(store)?;
        Ok(out)
    }

    /// Heads of a document, for comparing replicas.
    pub fn heads(&mut self, store: &dyn Storage, doc: &DocId) -> Result<Vec<automerge::ChangeHash>> {
        let heads = self.doc_mut(store, doc, false)?.map(|d| d.heads()).unwrap_or_default();
        self.settle_after_read(store)?;
        Ok(heads)
    }
}
