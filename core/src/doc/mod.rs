//! Registry documents on Automerge.
//!
//! One document holds the records of one shard of one registry of one community
//! (`DocId`). It starts from the shared genesis and is written by this node's actor
//! with commit times from the HLC. Each document keeps the view row of every record
//! (derived at load), so that a change to a record moves the views by exactly the
//! difference between its old and new rows.
//!
//! Besides the fields its schema declares, a record may carry two system fields, set
//! only by a split (see `docs/split.md`): [`MOVED_TO`] on an original that was copied
//! to another community, [`SPLIT_FROM`] on the copy. A record with `moved_to` is
//! history: readable, refused to writes, and without a row in the views.

mod admit;
mod contain;
mod genesis;
pub(crate) mod heads_only;
mod late;
mod read;
mod rows;
mod salvage;
mod validate;

pub use admit::{actor_node, check_actor};
pub use genesis::{GENESIS_TIME_MS, genesis_bytes};
pub use heads_only::sync_heads_only;
pub use late::LateEdit;
pub use read::claim_key;
pub use rows::read_row;
pub use salvage::{Salvaged, StoredChunk};
pub use validate::{DocOp, Plan};

use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::ids::{DocId, RecordKey};
use crate::schema::{FieldType, Schema};
use crate::value::Value;
use crate::views::Row;
use automerge::sync::{self, SyncDoc};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ObjId, ObjType, PatchAction, ROOT, ReadDoc, ScalarValue, hydrate};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// One claim on a claim field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub at: Hlc,
    pub node: String,
    pub by: String,
}

/// Every claim on a field, winner first (earliest HLC, then lowest node id).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    pub entries: Vec<Claim>,
}

impl Claims {
    pub fn winner(&self) -> Option<&Claim> {
        self.entries.first()
    }
}

/// A record as a replica holds it. `local` fields are added by the replica that owns
/// them, never read from the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: RecordKey,
    pub fields: BTreeMap<String, Value>,
    pub claims: BTreeMap<String, Claims>,
}

impl Record {
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("key".into(), self.key.to_string().into());
        for (name, value) in &self.fields {
            map.insert(name.clone(), value.to_json());
        }
        for (name, claims) in &self.claims {
            let winner = claims.winner().map(|c| c.by.clone().into()).unwrap_or(serde_json::Value::Null);
            map.insert(name.clone(), winner);
            let all = claims.entries.iter().map(|c| serde_json::json!({"by": c.by, "node": c.node})).collect();
            map.insert(format!("{name}_claims"), serde_json::Value::Array(all));
        }
        serde_json::Value::Object(map)
    }
}

/// What applying a peer's changes did to a document.
#[derive(Debug, Default)]
pub struct RemoteApplied {
    /// The changes that were new here, as bytes.
    pub changes: Vec<Vec<u8>>,
    /// The actor of each of `changes`, in the same order.
    pub actors: Vec<ActorId>,
    pub time_max_ms: i64,
    /// Records whose contents changed; their rows are refreshed.
    pub touched: BTreeSet<String>,
    /// What the changes did to records a split had moved away before they came.
    pub late: Vec<LateEdit>,
}

/// A row change of one record: its id, its row before and after.
pub type RowChange = (String, Option<Row>, Option<Row>);

/// Memory an Automerge operation takes in a loaded document, about (see
/// [`RegistryDoc::memory_bytes`]).
const MEMORY_BYTES_PER_OP: usize = 100;
/// Memory a record's row, index entries and id take, about.
const MEMORY_BYTES_PER_RECORD: usize = 1_200;

/// The field of a record map that holds the record's id.
pub const RECORD_ID: &str = "id";

/// System field of an original that a split copied to another community: the key of
/// its copy. Such a record is history: still readable, not writable, not counted.
pub const MOVED_TO: &str = "moved_to";

/// System field of a copy made by a split: the key of its original.
pub const SPLIT_FROM: &str = "split_from";

/// Names a schema may not declare: the record map's own keys.
pub const SYSTEM_FIELDS: [&str; 3] = [RECORD_ID, MOVED_TO, SPLIT_FROM];

pub struct RegistryDoc {
    id: DocId,
    schema: Arc<Schema>,
    am: AutoCommit,
    /// The `records` list. A list, not a map keyed by id: a batch of new records is
    /// then one splice of Automerge's op set instead of one per record (measured ~3x
    /// cheaper), and concurrent appends from different replicas never conflict.
    records: ObjId,
    /// Record id -> its map in `records`. Ids are unique by construction (HLC and
    /// node); should a faulty peer append a duplicate, the smallest object id wins, on
    /// every replica alike.
    index: BTreeMap<String, ObjId>,
    ids_by_obj: BTreeMap<ObjId, String>,
    /// Each record's contribution to the views: the "before" side of every update.
    rows: HashMap<String, Row>,
    /// Rows changed since the last [`Self::take_row_changes`], oldest first.
    row_changes: Vec<RowChange>,
    /// Records with [`MOVED_TO`] set: they have no row.
    moved: BTreeSet<String>,
    /// Records marked moved in the open transaction, unmarked again on rollback.
    moved_pending: Vec<String>,
    /// New records of the open transaction, spliced into `records` at commit.
    pending: Vec<(String, hydrate::Value)>,
}

/// A scalar field value as Automerge stores it. Lists (`Ids`) are objects: see callers.
fn scalar(value: &Value) -> ScalarValue {
    match value {
        Value::Str(s) | Value::Enum(s) => ScalarValue::Str(s.as_str().into()),
        Value::Int(v) | Value::Fen(v) => ScalarValue::Int(*v),
        Value::TimeMs(v) => ScalarValue::Timestamp(*v),
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Counter(v) => ScalarValue::counter(*v),
        Value::Ids(_) => ScalarValue::Null,
    }
}

fn hydrate_value(value: &Value) -> hydrate::Value {
    match value {
        Value::Ids(ids) => {
            hydrate::Value::List(ids.iter().map(|id| hydrate::Value::from(id.as_str())).collect::<Vec<_>>().into())
        }
        other => hydrate::Value::Scalar(scalar(other)),
    }
}

impl RegistryDoc {
    /// A document that holds nothing yet but the genesis.
    pub fn create(id: DocId, schema: Arc<Schema>, actor: &str) -> Result<Self> {
        Self::load(id, schema, actor, None, &[])
    }

    /// Loads from a snapshot (or the genesis) plus incremental chunks, in order.
    /// Strict: bytes Automerge cannot read anywhere fail the load (its
    /// `load_incremental` would skip them, and the changes after them, with no more
    /// than a log line), so the caller can quarantine the document (see
    /// [`Self::salvage`]) instead of serving it silently short of changes.
    pub fn load(
        id: DocId,
        schema: Arc<Schema>,
        actor: &str,
        snapshot: Option<&[u8]>,
        chunks: &[&[u8]],
    ) -> Result<Self> {
        let am_err = |source| Error::Automerge { doc: id.to_string(), source: Box::new(source) };
        let base = snapshot.unwrap_or(genesis_bytes());
        // One load of the document followed by its chunks: Automerge fails a partial
        // load of that, where it only warns about one of an incremental chunk.
        let am = match chunks.is_empty() {
            true => AutoCommit::load(base),
            false => {
                let mut all = Vec::with_capacity(base.len() + chunks.iter().map(|c| c.len()).sum::<usize>());
                all.extend_from_slice(base);
                chunks.iter().for_each(|chunk| all.extend_from_slice(chunk));
                AutoCommit::load(&all)
            }
        }
        .map_err(am_err)?;
        Self::from_automerge(id, schema, actor, am)
    }

    /// The document over a loaded Automerge document: its records indexed, their rows read.
    fn from_automerge(id: DocId, schema: Arc<Schema>, actor: &str, mut am: AutoCommit) -> Result<Self> {
        let am_err = |source| Error::Automerge { doc: id.to_string(), source: Box::new(source) };
        am.set_actor(ActorId::from(actor.as_bytes()));
        let records = match am.get(ROOT, genesis::RECORDS).map_err(am_err)? {
            Some((automerge::Value::Object(ObjType::List), obj)) => obj,
            _ => {
                return Err(Error::Corrupt {
                    what: "document",
                    key: id.to_string(),
                    reason: "no records list at the root".into(),
                });
            }
        };
        let mut doc = Self {
            id,
            schema,
            am,
            records,
            index: BTreeMap::new(),
            ids_by_obj: BTreeMap::new(),
            rows: HashMap::new(),
            row_changes: Vec::new(),
            moved: BTreeSet::new(),
            moved_pending: Vec::new(),
            pending: Vec::new(),
        };
        let objs: Vec<ObjId> = doc
            .am
            .list_range(&doc.records, ..)
            .filter(|item| matches!(item.value, automerge::ValueRef::Object(ObjType::Map)))
            .map(|item| item.id())
            .collect();
        for obj in objs {
            doc.index_record(obj);
        }
        let ids = doc.record_ids();
        doc.moved = ids.iter().filter(|id| doc.read_moved_to(id).is_some()).cloned().collect();
        doc.refresh_rows(ids);
        doc.row_changes.clear();
        Ok(doc)
    }

    pub fn id(&self) -> &DocId {
        &self.id
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    pub fn heads(&mut self) -> Vec<automerge::ChangeHash> {
        self.am.get_heads()
    }

    pub fn rows(&self) -> &HashMap<String, Row> {
        &self.rows
    }

    fn record_obj(&self, record: &str) -> Option<ObjId> {
        self.index.get(record).cloned()
    }

    /// Adds a record map of `records` to the index, by the id it holds. Returns the id.
    fn index_record(&mut self, obj: ObjId) -> Option<String> {
        if let Some(id) = self.ids_by_obj.get(&obj) {
            return Some(id.clone());
        }
        let id = match self.am.get(&obj, RECORD_ID) {
            Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str()?.to_string(),
            _ => return None,
        };
        self.ids_by_obj.insert(obj.clone(), id.clone());
        match self.index.get(&id) {
            Some(existing) if *existing <= obj => {}
            _ => {
                self.index.insert(id.clone(), obj);
            }
        }
        Some(id)
    }

    pub fn get(&self, record: &str) -> Option<Record> {
        let obj = self.record_obj(record)?;
        let (fields, claims) = read::fields(&self.am, &obj, &self.schema);
        Some(Record { key: RecordKey { doc: self.id.clone(), id: record.to_string() }, fields, claims })
    }

    /// Ids of the records, in id order.
    pub fn record_ids(&self) -> Vec<String> {
        self.index.keys().cloned().collect()
    }

    /// Whether a split moved this record away ([`MOVED_TO`] is set).
    pub fn is_moved(&self, record: &str) -> bool {
        self.moved.contains(record)
    }

    /// The [`MOVED_TO`] of a record, read from the document.
    fn read_moved_to(&self, record: &str) -> Option<String> {
        read::system(&self.am, &self.record_obj(record)?, MOVED_TO)
    }

    /// The record's contribution to the views, read from the document. A moved
    /// record has none: its copy counts instead.
    pub fn row(&self, record: &str) -> Option<Row> {
        let obj = self.record_obj(record)?;
        if read::system(&self.am, &obj, MOVED_TO).is_some() {
            return None;
        }
        Some(rows::read_row(&self.schema, |name| {
            let spec = self.schema.field(name)?;
            read::field(&self.am, &obj, name, &spec.ty)
        }))
    }

    /// Re-reads the rows of `records` from the document, noting those that changed.
    fn refresh_rows(&mut self, records: impl IntoIterator<Item = String>) {
        for record in records {
            let new = self.row(&record);
            self.set_row(record, new);
        }
    }

    fn set_row(&mut self, record: String, new: Option<Row>) {
        let old = match &new {
            Some(row) => self.rows.insert(record.clone(), row.clone()),
            None => self.rows.remove(&record),
        };
        if old != new {
            self.row_changes.push((record, old, new));
        }
    }

    /// Rows changed since the last call (by local writes or a peer's changes), each
    /// with its value before and after.
    pub fn take_row_changes(&mut self) -> Vec<RowChange> {
        std::mem::take(&mut self.row_changes)
    }

    /// Applies a validated plan to the open transaction. Commit with [`Self::commit`].
    pub fn apply(&mut self, plan: &Plan, at: Hlc, node: &str) -> Result<()> {
        let doc_name = self.id.to_string();
        let am_err = |source| Error::Automerge { doc: doc_name.clone(), source: Box::new(source) };
        // The row follows from the plan: a local write applies exactly its values, so
        // there is no need to read them back from Automerge.
        let old = if plan.create { None } else { self.rows.get(&plan.record).cloned() };
        // Validation refuses writes to a moved record; should one come here anyway, the
        // record stays out of the views.
        let moved = !plan.create && self.moved.contains(&plan.record);
        let new = rows::row_after(&self.schema, old.as_ref(), plan);
        if plan.create {
            // Spliced into `records` with the batch's other new records at commit.
            let record = self.hydrate_new(plan, at, node);
            self.pending.push((plan.record.clone(), record));
            self.set_row(plan.record.clone(), Some(new));
            return Ok(());
        }
        let rec = self
            .record_obj(&plan.record)
            .ok_or_else(|| Error::RecordNotFound { record: format!("{}/{}", self.id, plan.record) })?;
        for op in &plan.ops {
            match op {
                DocOp::Put(field, Value::Ids(ids)) => {
                    let list = self.am.put_object(&rec, field.as_str(), ObjType::List).map_err(am_err)?;
                    for (i, id) in ids.iter().enumerate() {
                        self.am.insert(&list, i, id.as_str()).map_err(am_err)?;
                    }
                }
                DocOp::Put(field, value) => self.am.put(&rec, field.as_str(), scalar(value)).map_err(am_err)?,
                DocOp::Add(field, delta) => self.am.increment(&rec, field.as_str(), *delta).map_err(am_err)?,
                DocOp::Claim(field, by) | DocOp::ClaimAs(field, _, by) => {
                    let map = match self.am.get(&rec, field.as_str()).map_err(am_err)? {
                        Some((automerge::Value::Object(ObjType::Map), map)) => map,
                        _ => self.am.put_object(&rec, field.as_str(), ObjType::Map).map_err(am_err)?,
                    };
                    let key = match op {
                        DocOp::ClaimAs(_, key, _) => key.clone(),
                        _ => claim_key(at, node),
                    };
                    self.am.put(&map, key, by.as_str()).map_err(am_err)?;
                }
            }
        }
        self.set_row(plan.record.clone(), (!moved).then_some(new));
        Ok(())
    }

    /// Adds to the open transaction a copy of `source` (a record of another
    /// community's document, same registry), as a split does: the same id, every
    /// field the document holds at its current value (counters keep their count),
    /// every claim under its original key (so the same claimant wins), and
    /// [`SPLIT_FROM`] naming the original. Local fields are not in `source` and are
    /// not copied. Returns `false`, adding nothing, if this document already holds a
    /// record with that id. Commit with [`Self::commit`].
    pub fn insert_copy(&mut self, source: &Record) -> Result<bool> {
        let id = source.key.id.clone();
        if self.index.contains_key(&id) || self.pending.iter().any(|(pending, _)| *pending == id) {
            return Ok(false);
        }
        if source.key.doc.registry != self.id.registry || source.key.doc.shard != self.id.shard {
            return Err(Error::Corrupt {
                what: "split copy",
                key: source.key.to_string(),
                reason: format!("copied into {}: another registry or shard", self.id),
            });
        }
        let mut fields: HashMap<String, hydrate::Value> = HashMap::new();
        fields.insert(RECORD_ID.into(), hydrate::Value::from(id.as_str()));
        for spec in self.schema.fields.values().filter(|spec| !spec.local) {
            match spec.ty {
                FieldType::Counter => {
                    let count = source.get(&spec.name).and_then(Value::as_i64).unwrap_or(0);
                    fields.insert(spec.name.clone(), hydrate::Value::Scalar(ScalarValue::counter(count)));
                }
                FieldType::Claim => {
                    let claims: HashMap<String, hydrate::Value> = source
                        .claims
                        .get(&spec.name)
                        .map(|claims| {
                            claims
                                .entries
                                .iter()
                                .map(|c| (claim_key(c.at, &c.node), hydrate::Value::from(c.by.as_str())))
                                .collect()
                        })
                        .unwrap_or_default();
                    fields.insert(spec.name.clone(), hydrate::Value::Map(claims.into()));
                }
                _ => {
                    if let Some(value) = source.get(&spec.name) {
                        fields.insert(spec.name.clone(), hydrate_value(value));
                    }
                }
            }
        }
        fields.insert(SPLIT_FROM.into(), hydrate::Value::from(source.key.to_string().as_str()));
        self.pending.push((id.clone(), hydrate::Value::Map(fields.into())));
        // The same row a recount reads back from the copy.
        let row = rows::read_row(&self.schema, |name| source.get(name).cloned());
        self.set_row(id, Some(row));
        Ok(true)
    }

    /// Sets [`MOVED_TO`] on a record of the open transaction: it leaves the views.
    pub fn mark_moved(&mut self, record: &str, to: &RecordKey) -> Result<()> {
        let rec =
            self.record_obj(record).ok_or_else(|| Error::RecordNotFound { record: format!("{}/{record}", self.id) })?;
        self.am
            .put(&rec, MOVED_TO, to.to_string())
            .map_err(|source| Error::Automerge { doc: self.id.to_string(), source: Box::new(source) })?;
        if self.moved.insert(record.to_string()) {
            self.moved_pending.push(record.to_string());
        }
        self.set_row(record.to_string(), None);
        Ok(())
    }

    /// A new record as one Automerge value. Counters and claim maps exist from the
    /// start: created concurrently later, one replica's object would win and the other's
    /// increments or claims would be lost.
    fn hydrate_new(&self, plan: &Plan, at: Hlc, node: &str) -> hydrate::Value {
        let mut fields: HashMap<&str, hydrate::Value> = HashMap::new();
        fields.insert(RECORD_ID, hydrate::Value::from(plan.record.as_str()));
        let empty_map = || hydrate::Value::from(HashMap::<&str, hydrate::Value>::new());
        for spec in self.schema.fields.values() {
            match spec.ty {
                FieldType::Counter => {
                    fields.insert(&spec.name, hydrate::Value::Scalar(ScalarValue::counter(0)));
                }
                FieldType::Claim => {
                    fields.insert(&spec.name, empty_map());
                }
                _ => {}
            }
        }
        // Borrowed by the claim maps below; one key serves every claim of this write.
        let key = plan.ops.iter().any(|op| matches!(op, DocOp::Claim(..))).then(|| claim_key(at, node));
        for op in &plan.ops {
            match op {
                DocOp::Put(field, value) => {
                    fields.insert(field, hydrate_value(value));
                }
                DocOp::Add(field, delta) => {
                    fields.insert(field, hydrate::Value::Scalar(ScalarValue::counter(*delta)));
                }
                DocOp::Claim(field, by) => {
                    let key = key.as_deref().unwrap_or_default();
                    fields
                        .insert(field, hydrate::Value::from(HashMap::from([(key, hydrate::Value::from(by.as_str()))])));
                }
                DocOp::ClaimAs(field, key, by) => {
                    let claim = HashMap::from([(key.as_str(), hydrate::Value::from(by.as_str()))]);
                    fields.insert(field, hydrate::Value::from(claim));
                }
            }
        }
        hydrate::Value::from(fields)
    }

    /// Commits the open transaction. Returns the new change's bytes, or `None` when
    /// nothing was written.
    pub fn commit(&mut self, at: Hlc) -> Result<Option<Vec<u8>>> {
        if !self.pending.is_empty() {
            let doc_name = self.id.to_string();
            let am_err = |source| Error::Automerge { doc: doc_name.clone(), source: Box::new(source) };
            // At the head: finding the end would walk the whole list, and the order of
            // records means nothing (they are found by id).
            let (ids, values): (Vec<String>, Vec<hydrate::Value>) =
                std::mem::take(&mut self.pending).into_iter().unzip();
            self.am.splice(&self.records, 0, 0, values).map_err(am_err)?;
            for (offset, id) in ids.into_iter().enumerate() {
                match self.am.get(&self.records, offset).map_err(am_err)? {
                    Some((automerge::Value::Object(ObjType::Map), obj)) => {
                        self.ids_by_obj.insert(obj.clone(), id.clone());
                        self.index.insert(id, obj);
                    }
                    _ => {
                        return Err(Error::Corrupt {
                            what: "document",
                            key: format!("{}/{id}", self.id),
                            reason: "a spliced record is not a map".into(),
                        });
                    }
                }
            }
        }
        self.moved_pending.clear();
        let time = i64::try_from(at.wall_ms()).unwrap_or(i64::MAX);
        if self.am.commit_with(CommitOptions::default().with_time(time)).is_none() {
            return Ok(None);
        }
        Ok(self.am.get_last_local_change().map(|c| c.raw_bytes().to_vec()))
    }

    /// Drops the open transaction (a write that failed half way) and the rows it moved.
    pub fn rollback(&mut self) {
        self.am.rollback();
        self.pending.clear();
        for record in std::mem::take(&mut self.moved_pending) {
            self.moved.remove(&record);
        }
        while let Some((record, old, _)) = self.row_changes.pop() {
            match old {
                Some(row) => self.rows.insert(record, row),
                None => self.rows.remove(&record),
            };
        }
    }

    /// Applies a peer's changes in one call. Returns the changes that were new here
    /// (duplicates are dropped; changes whose dependencies are missing wait in
    /// Automerge's queue and are returned once they apply), their highest commit time,
    /// and the records they touched, read from Automerge's patches, so that a merge
    /// that lost a conflict is seen too. Patches are logged only around this call:
    /// local writes know their records, and logging costs every operation.
    ///
    /// A change made after `time_ms_max` (the sender's clock runs ahead of this node's
    /// by more than the bound) fails the whole call with [`Error::ClockAhead`]; the
    /// document may then hold part of it, so the caller drops it and reloads.
    ///
    /// `actors_refused`: nodes whose actors the peer may not write under (see
    /// [`check_actor`]), checked on every change not held here, those that will wait
    /// for their dependencies included.
    pub fn apply_remote(
        &mut self,
        changes: &[Vec<u8>],
        time_ms_max: i64,
        actors_refused: &BTreeSet<String>,
    ) -> Result<RemoteApplied> {
        let doc = self.id.to_string();
        let decoded = changes
            .iter()
            .map(|bytes| {
                Change::from_bytes(bytes.clone()).map_err(|e| Error::Corrupt {
                    what: "change",
                    key: doc.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let ahead = decoded.iter().map(Change::timestamp).max().filter(|&ms| ms > time_ms_max);
        if let Some(change_ms) = ahead {
            return Err(Error::ClockAhead { doc, change_ms, time_ms_max });
        }
        // With nothing waiting in Automerge's queue, "held here" is a lookup in its
        // change graph; `get_change_by_hash` would rebuild the change from the ops.
        let queue_empty = self.am.get_missing_deps(&[]).is_empty();
        let mut fresh: Vec<Change> = Vec::with_capacity(decoded.len());
        let mut fresh_hashes = HashSet::with_capacity(decoded.len());
        // Whether every new change's dependencies are held or come before it here: then
        // the new changes are exactly `fresh`, in an order that applies, and need not be
        // read back after the merge (see `merge`).
        let mut in_order = queue_empty;
        for change in &decoded {
            let held = match queue_empty {
                true => self.known_here(&change.hash()),
                false => self.am.get_change_by_hash(&change.hash()).is_some(),
            };
            if held || fresh_hashes.contains(&change.hash()) {
                continue;
            }
            if !actors_refused.is_empty() {
                check_actor(&doc, change.actor_id(), actors_refused)?;
            }
            // Bytes that decode but are not Automerge's own encoding of the change are
            // kept by Automerge under the hash of its own encoding: this node's memory
            // would hold one change and its store (the bytes as they came) another.
            // Decoding a peer's bytes can make Automerge panic too: see `contain`.
            let canonical = contain::contained(&doc, || Ok(Change::from(change.decode()).hash()))?;
            if canonical != change.hash() {
                let reason = format!(
                    "change {} is not in Automerge's own encoding (re-encoded it is {canonical})",
                    change.hash()
                );
                return Err(Error::Corrupt { what: "change", key: doc, reason });
            }
            in_order = in_order && change.deps().iter().all(|dep| fresh_hashes.contains(dep) || self.known_here(dep));
            fresh_hashes.insert(change.hash());
            fresh.push(change.clone());
        }
        let expected = in_order.then_some(fresh);
        self.merge(time_ms_max, expected, |am| {
            am.apply_changes(decoded).map_err(|source| Error::Changes { doc, source: Box::new(source) })
        })
    }

    /// Whether the change `hash` is applied or waits in Automerge's queue: its change
    /// graph knows it (a lookup; the queue is searched too, so callers ask this only
    /// when the queue is empty, or for either answer).
    fn known_here(&mut self, hash: &automerge::ChangeHash) -> bool {
        !self.am.get_missing_deps(&[*hash]).contains(hash)
    }

    /// The next message of Automerge's sync protocol to a peer, if any is due. Used to
    /// repair a link whose checkpoints disagree with what the peer holds. `state` holds
    /// what the peer's messages said (its bloom filter among them), and Automerge can
    /// panic on a hostile one (a filter of no bits): that is an error, see `contain`.
    pub fn generate_sync(&mut self, state: &mut sync::State) -> Result<Option<Vec<u8>>> {
        let am = &mut self.am;
        contain::contained(&self.id.to_string(), || {
            Ok(am.sync().generate_sync_message(state).map(sync::Message::encode))
        })
    }

    /// Receives a peer's sync message: the changes it carries merge as in
    /// [`Self::apply_remote`] (with the same bound on their time), and `state` learns
    /// what the peer holds.
    pub fn receive_sync(&mut self, state: &mut sync::State, message: &[u8], time_ms_max: i64) -> Result<RemoteApplied> {
        let doc = self.id.to_string();
        let message = sync::Message::decode(message).map_err(|e| Error::Corrupt {
            what: "sync message",
            key: doc.clone(),
            reason: e.to_string(),
        })?;
        self.merge(time_ms_max, None, |am| {
            am.sync()
                .receive_sync_message(state, message)
                .map_err(|source| Error::Changes { doc, source: Box::new(source) })
        })
    }

    /// Runs `merge` on the Automerge document with patches logged, then moves the rows
    /// of the records it touched. See [`Self::apply_remote`]. Should Automerge panic on
    /// the peer's bytes, the merge fails instead, and the caller drops the document.
    ///
    /// `expected`: the changes the merge brings when the caller knows them (every one
    /// new, in an order that applies, and nothing was waiting): if the merge leaves
    /// nothing waiting, they are what it applied, and reading the changes back (which
    /// Automerge rebuilds from its ops, about a tenth of a street's merge) is skipped.
    fn merge(
        &mut self,
        time_ms_max: i64,
        expected: Option<Vec<Change>>,
        merge: impl FnOnce(&mut AutoCommit) -> Result<()>,
    ) -> Result<RemoteApplied> {
        let before = self.am.get_heads();
        let am = &mut self.am;
        // A peer's bytes can make Automerge panic: see `contain`. Reading the merged
        // changes back can too, when the merge took bytes it should not have: that is
        // contained as well (found by the `apply_changes` fuzz target).
        let (patches, new) = contain::contained(&self.id.to_string(), || {
            am.update_diff_cursor();
            let merged = merge(am);
            let patches = am.diff_incremental();
            am.reset_diff_cursor();
            merged?;
            let new = match expected {
                Some(expected) if am.get_missing_deps(&[]).is_empty() => expected,
                _ if am.get_heads() == before => Vec::new(),
                _ => am.get_changes(&before),
            };
            Ok((patches, new))
        })?;
        if new.is_empty() {
            return Ok(RemoteApplied::default());
        }
        let time_max_ms = new.iter().map(Change::timestamp).max().unwrap_or(0);
        if time_max_ms > time_ms_max {
            // Applied already (a sync message's changes are not seen before): the
            // caller drops this document, and the store holds it as it was.
            return Err(Error::ClockAhead { doc: self.id.to_string(), change_ms: time_max_ms, time_ms_max });
        }
        // Applied already too: a refusal drops the document the same way.
        self.admit(&patches)?;
        // A patch inside a record has `records` at path[1] and the record's map at
        // path[2], or is the record's map itself; new records are list insertions.
        // Patches on the record's own map carry the merged (winning) field values, so
        // the rows follow from them without reading the document back.
        let mut edits: BTreeMap<ObjId, Vec<PatchAction>> = BTreeMap::new();
        // Fields of a record with patches inside them (claim maps, id lists).
        let mut nested: BTreeMap<ObjId, BTreeSet<String>> = BTreeMap::new();
        let mut inserted = BTreeSet::new();
        for patch in patches {
            if patch.obj == self.records {
                if let PatchAction::Insert { values, .. } = &patch.action {
                    inserted.extend(values.iter().map(|(_, obj, _)| obj.clone()));
                }
            } else if patch.path.get(1).is_some_and(|(obj, _)| *obj == self.records) {
                match patch.path.get(2) {
                    Some((record, prop)) => {
                        edits.entry(record.clone()).or_default();
                        if let automerge::Prop::Map(field) = prop {
                            nested.entry(record.clone()).or_default().insert(field.clone());
                        }
                    }
                    None => edits.entry(patch.obj).or_default().push(patch.action),
                }
            }
        }
        for obj in inserted {
            edits.entry(obj).or_default();
        }
        let mut touched = BTreeSet::new();
        let mut late = Vec::new();
        for (obj, actions) in edits {
            let Some(id) = self.index_record(obj.clone()) else { continue };
            // A duplicate id that lost to a smaller object: the winner's row stands.
            if self.index.get(&id) != Some(&obj) {
                continue;
            }
            let was_moved = self.moved.contains(&id);
            let row = if rows::moved_after(&actions).unwrap_or(was_moved) {
                // A split moved it (here or before): history, out of the views. Moved
                // before these changes came: what they did is for the copy too.
                if was_moved {
                    late.extend(LateEdit::from_patches(self, &id, &actions, nested.get(&obj)));
                }
                self.moved.insert(id.clone());
                None
            } else if was_moved {
                // `moved_to` removed: only a hand-made change does that. Rare: read back.
                self.moved.remove(&id);
                self.row(&id)
            } else {
                match self.rows.get(&id) {
                    Some(old) => Some(rows::row_patched(&self.schema, old.clone(), &actions)),
                    // New here: its patches hold every field, laid over the empty row.
                    None => Some(rows::row_patched(&self.schema, rows::empty_row(&self.schema), &actions)),
                }
            };
            self.set_row(id.clone(), row);
            touched.insert(id);
        }
        let changes = new.iter().map(|c| c.raw_bytes().to_vec()).collect();
        let actors = new.iter().map(|c| c.actor_id().clone()).collect();
        Ok(RemoteApplied { changes, actors, time_max_ms, touched, late })
    }

    /// Whether changes received wait in memory for dependencies not yet here.
    pub fn has_waiting_changes(&mut self) -> bool {
        !self.am.get_missing_deps(&[]).is_empty()
    }

    /// Whether the change `hash` is applied here (not merely queued).
    pub fn holds(&mut self, hash: &automerge::ChangeHash) -> bool {
        self.am.get_change_by_hash(hash).is_some()
    }

    /// About how many bytes of memory the document holds: Automerge's operations and
    /// this node's row and index of each record. An estimate (neither reports its
    /// heap), calibrated by the `doc_memory` bench, which prints it beside the heap a
    /// loaded document holds; the bytes it was stored in say little of it, as a
    /// snapshot compresses 10 to 100 times.
    pub fn memory_bytes(&self) -> usize {
        let ops = automerge::ReadDoc::stats(&self.am).num_ops as usize;
        ops.saturating_mul(MEMORY_BYTES_PER_OP).saturating_add(self.rows.len().saturating_mul(MEMORY_BYTES_PER_RECORD))
    }

    /// The whole document, compacted: a snapshot that replaces its chunks.
    pub fn save(&mut self) -> Vec<u8> {
        self.am.save()
    }

    /// Every record as JSON, for comparing replicas.
    pub fn materialize(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for id in self.record_ids() {
            if let Some(record) = self.get(&id) {
                map.insert(id, record.to_json());
            }
        }
        serde_json::Value::Object(map)
    }
}
