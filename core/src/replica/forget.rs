//! Forgetting the documents of owners this node no longer serves (a community moved to
//! another street): their rows leave the views, and the documents leave the cache and
//! the store, in one batch, with the named values the runtime asks to delete (the
//! checkpoints and subtrees of the children that left). A document that cannot be
//! loaded is kept rather than forgotten with its rows still counted.

use super::{Effect, Replica};
use crate::ids::DocId;
use crate::store::{Storage, StoreBatch};
use crate::views::Dirty;
use std::collections::BTreeSet;

impl Replica {
    pub(super) fn forget(&mut self, store: &dyn Storage, owners: &BTreeSet<String>, meta: Vec<String>) -> Vec<Effect> {
        let mut batch = StoreBatch { meta_deleted: meta, ..StoreBatch::default() };
        let mut dirty = Dirty::default();
        let gone: Vec<DocId> = self.known_docs.iter().filter(|d| owners.contains(&d.owner)).cloned().collect();
        for doc_id in gone {
            match self.cached_mut(store, &doc_id, false) {
                Ok(Some(cached)) => {
                    let schema = cached.doc.schema().clone();
                    let rows: Vec<(String, crate::views::Row)> =
                        cached.doc.rows().iter().map(|(id, row)| (id.clone(), row.clone())).collect();
                    for (record, row) in rows {
                        self.views.update(&schema, &doc_id, &record, Some(&row), None, &mut dirty);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // Keep it: forgetting without moving the views would leave them wrong.
                    tracing::error!(doc = %doc_id, error = %e, "cannot load a document to forget; kept");
                    continue;
                }
            }
            self.docs.remove(&doc_id);
            self.known_docs.remove(&doc_id);
            if self.waiting_docs.contains(&doc_id) {
                batch.meta_deleted.push(super::waiting::meta_name(&doc_id));
            }
            if self.quarantined.remove(&doc_id) {
                let index = super::waiting::encode_index(&self.quarantined);
                batch.meta.push((super::quarantine::INDEX_META.to_string(), index));
            }
            batch.forget.push(doc_id);
        }
        self.note_waiting(&mut batch);
        batch.views = self.views.take_writes(&mut dirty);
        self.seal(&mut batch);
        vec![Effect::Persist(batch)]
    }
}
