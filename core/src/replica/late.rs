//! Changes that arrive for a record a split has moved: the node that ran the split
//! carries what they did over to the copy, so an acknowledged write of the old
//! community reaches the record that counts (the rule is in `crate::doc::LateEdit`'s
//! module, the story in `docs/split.md`).
//!
//! Only the split's node carries, so each late change is carried once, though every
//! node above the old community merges it: the node is read from the actor that set
//! the original's `moved_to`. A node that does not hold the copy (wiped, and the copy
//! not rebuilt yet) carries nothing; it logs a warning.

use super::Replica;
use crate::doc::{LateEdit, MOVED_TO, Plan};
use crate::error::Result;
use crate::hlc::Hlc;
use crate::ids::{DocId, RecordKey};
use crate::store::Storage;

/// Changes written to copies, by document, to be logged after the original's.
pub(super) type Carried = Vec<(DocId, Vec<u8>)>;

impl Replica {
    /// Writes to their copies what `late` did to moved records of `doc_id`, where
    /// this node ran the split. On an error nothing is kept: every copy this call
    /// touched leaves the cache (it reloads from the store, which has none of it).
    pub(super) fn carry_late(
        &mut self,
        store: &dyn Storage,
        doc_id: &DocId,
        late: Vec<LateEdit>,
        time_max_ms: i64,
    ) -> Result<Carried> {
        let node = self.config.node.to_string();
        // Carried changes sort after the late ones.
        self.clock.observe(Hlc::from_parts(u64::try_from(time_max_ms).unwrap_or(0), 0));
        let mut carried = Carried::new();
        for edit in late {
            let Some(original) = self.docs.peek(doc_id).map(|cached| &cached.doc) else { break };
            if original.moved_by(&edit.record).as_deref() != Some(node.as_str()) {
                continue;
            }
            let Some(record) = original.get(&edit.record) else { continue };
            let Some(to) = record.get(MOVED_TO).and_then(|to| to.as_str()).and_then(|to| RecordKey::parse(to).ok())
            else {
                continue;
            };
            match self.carry_one(store, &to, &record, &edit, &node) {
                Ok(Some(change)) => carried.push((to.doc, change)),
                Ok(None) => {}
                Err(e) => {
                    self.docs.remove(&to.doc);
                    for (doc, _) in &carried {
                        self.docs.remove(doc);
                    }
                    return Err(e);
                }
            }
        }
        Ok(carried)
    }

    fn carry_one(
        &mut self,
        store: &dyn Storage,
        to: &RecordKey,
        original: &crate::doc::Record,
        edit: &LateEdit,
        node: &str,
    ) -> Result<Option<Vec<u8>>> {
        // Any time after the late change's: the clock has seen it (wall 0 is never ahead).
        let at = self.clock.now(0);
        let Some(copy) = self.doc_mut(store, &to.doc, false)? else {
            tracing::warn!(original = %original.key, copy = %to, "a late change to a moved record: its copy is not here");
            return Ok(None);
        };
        let ops = copy.late_ops(&to.id, original, edit, node);
        if ops.is_empty() {
            return Ok(None);
        }
        let plan = Plan { record: to.id.clone(), create: false, ops, local: Vec::new() };
        if let Err(e) = copy.apply(&plan, at, node) {
            copy.rollback();
            return Err(e);
        }
        let change = copy.commit(at)?;
        tracing::info!(original = %original.key, copy = %to, "a late change to a moved record carried to its copy");
        Ok(change)
    }
}
