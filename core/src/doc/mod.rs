//! Registry documents on Automerge.
//!
//! One document holds the records of one shard of one registry of one community
//! (`DocId`). It starts from the shared genesis and is written by this node's actor
//! with commit times from the HLC. Each document keeps the view row of every record
//! (derived at load), so that a change to a record moves the views by exactly the
//! difference between its old and new rows.

mod genesis;
mod read;
mod validate;

pub use genesis::{GENESIS_TIME_MS, genesis_bytes};
pub use read::claim_key;
pub use validate::{DocOp, Plan};

use crate::error::{Error, Result};
use crate::hlc::Hlc;
use crate::ids::{DocId, RecordKey};
use crate::schema::{FieldType, Schema};
use crate::value::Value;
use crate::views::Row;
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc, ScalarValue, hydrate};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    pub time_max_ms: i64,
    /// Records whose contents changed.
    pub touched: BTreeSet<String>,
}

/// A row change of one record: its id, its row before and after.
pub type RowChange = (String, Option<Row>, Option<Row>);

pub struct RegistryDoc {
    id: DocId,
    schema: Arc<Schema>,
    am: AutoCommit,
    records: ObjId,
    /// Each record's contribution to the views, derived from the document at load and
    /// kept current after every change: the "before" side of every view update.
    rows: HashMap<String, Row>,
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
    pub fn load(
        id: DocId,
        schema: Arc<Schema>,
        actor: &str,
        snapshot: Option<&[u8]>,
        chunks: &[&[u8]],
    ) -> Result<Self> {
        let am_err = |source| Error::Automerge { doc: id.to_string(), source };
        let mut am = AutoCommit::load(snapshot.unwrap_or(genesis_bytes())).map_err(am_err)?;
        for chunk in chunks {
            am.load_incremental(chunk).map_err(am_err)?;
        }
        am.set_actor(ActorId::from(actor.as_bytes()));
        let records = match am.get(ROOT, genesis::RECORDS).map_err(am_err)? {
            Some((automerge::Value::Object(ObjType::Map), obj)) => obj,
            _ => {
                return Err(Error::Corrupt {
                    what: "document",
                    key: id.to_string(),
                    reason: "no records map at the root".into(),
                });
            }
        };
        let mut doc = Self { id, schema, am, records, rows: HashMap::new() };
        let ids = doc.record_ids();
        doc.refresh_rows(ids);
        Ok(doc)
    }

    pub fn id(&self) -> &DocId {
        &self.id
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn heads(&mut self) -> Vec<automerge::ChangeHash> {
        self.am.get_heads()
    }

    pub fn rows(&self) -> &HashMap<String, Row> {
        &self.rows
    }

    fn record_obj(&self, record: &str) -> Option<ObjId> {
        match self.am.get(&self.records, record) {
            Ok(Some((automerge::Value::Object(ObjType::Map), obj))) => Some(obj),
            _ => None,
        }
    }

    pub fn contains(&self, record: &str) -> bool {
        self.record_obj(record).is_some()
    }

    pub fn get(&self, record: &str) -> Option<Record> {
        let obj = self.record_obj(record)?;
        let (fields, claims) = read::fields(&self.am, &obj, &self.schema);
        Some(Record { key: RecordKey { doc: self.id.clone(), id: record.to_string() }, fields, claims })
    }

    pub fn record_ids(&self) -> Vec<String> {
        self.am.keys(&self.records).collect()
    }

    /// The record's contribution to the views, read from the document.
    pub fn row(&self, record: &str) -> Option<Row> {
        let obj = self.record_obj(record)?;
        let schema = &self.schema;
        let read = |name: &str| -> Option<Value> {
            let spec = schema.field(name)?;
            read::field(&self.am, &obj, name, &spec.ty)
        };
        let status = schema.status.as_ref().map(|machine| {
            read(&machine.field).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| machine.initial.clone())
        });
        let category = schema.views.count_by.as_deref().and_then(read).and_then(|v| v.as_str().map(str::to_string));
        let sums = schema.views.sums.iter().map(|f| read(f).and_then(|v| v.as_i64()).unwrap_or(0)).collect();
        let open = match (&schema.status, &status) {
            (Some(machine), Some(status)) => machine.is_open(status),
            _ => false,
        };
        let deadline_ms =
            if open { schema.views.deadline.as_deref().and_then(read).and_then(|v| v.as_i64()) } else { None };
        Some(Row { status, category, sums, deadline_ms })
    }

    /// Recomputes the rows of `records` and returns those that changed.
    pub fn refresh_rows(&mut self, records: impl IntoIterator<Item = String>) -> Vec<RowChange> {
        records
            .into_iter()
            .filter_map(|record| {
                let new = self.row(&record);
                let old = match &new {
                    Some(row) => self.rows.insert(record.clone(), row.clone()),
                    None => self.rows.remove(&record),
                };
                (old != new).then_some((record, old, new))
            })
            .collect()
    }

    /// Applies a validated plan to the open transaction. Commit with [`Self::commit`].
    pub fn apply(&mut self, plan: &Plan, at: Hlc, node: &str) -> Result<()> {
        let doc_name = self.id.to_string();
        let am_err = |source| Error::Automerge { doc: doc_name.clone(), source };
        if plan.create {
            // One batch insertion for the whole record: Automerge splices its op set twice
            // instead of once per field, which makes creating a record ~3x cheaper.
            let record = self.hydrate_new(plan, at, node);
            self.am.batch_create_object(&self.records, plan.record.as_str(), &record, false).map_err(am_err)?;
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
                DocOp::Claim(field, by) => {
                    let map = match self.am.get(&rec, field.as_str()).map_err(am_err)? {
                        Some((automerge::Value::Object(ObjType::Map), map)) => map,
                        _ => self.am.put_object(&rec, field.as_str(), ObjType::Map).map_err(am_err)?,
                    };
                    self.am.put(&map, claim_key(at, node), by.as_str()).map_err(am_err)?;
                }
            }
        }
        Ok(())
    }

    /// A new record as one Automerge value. Counters and claim maps exist from the
    /// start: created concurrently later, one replica's object would win and the other's
    /// increments or claims would be lost.
    fn hydrate_new(&self, plan: &Plan, at: Hlc, node: &str) -> hydrate::Value {
        let mut fields: HashMap<&str, hydrate::Value> = HashMap::new();
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
        let claim_keys: Vec<String> = plan.ops.iter().map(|_| claim_key(at, node)).collect();
        for (op, key) in plan.ops.iter().zip(&claim_keys) {
            match op {
                DocOp::Put(field, value) => {
                    fields.insert(field, hydrate_value(value));
                }
                DocOp::Add(field, delta) => {
                    fields.insert(field, hydrate::Value::Scalar(ScalarValue::counter(*delta)));
                }
                DocOp::Claim(field, by) => {
                    fields.insert(
                        field,
                        hydrate::Value::from(HashMap::from([(key.as_str(), hydrate::Value::from(by.as_str()))])),
                    );
                }
            }
        }
        hydrate::Value::from(fields)
    }

    /// Commits the open transaction. Returns the new change's bytes, or `None` when
    /// nothing was written.
    pub fn commit(&mut self, at: Hlc) -> Option<Vec<u8>> {
        let time = i64::try_from(at.wall_ms()).unwrap_or(i64::MAX);
        self.am.commit_with(CommitOptions::default().with_time(time))?;
        self.am.get_last_local_change().map(|c| c.raw_bytes().to_vec())
    }

    /// Drops whatever the open transaction holds (a write that failed half way).
    pub fn rollback(&mut self) {
        self.am.rollback();
    }

    /// Applies a peer's changes in one call. Returns the changes that were new here
    /// (duplicates are dropped; changes whose dependencies are missing wait in
    /// Automerge's queue and are returned once they apply), their highest commit time,
    /// and the records they touched, read from Automerge's patches, so that a merge
    /// that lost a conflict is seen too. Patches are logged only around this call:
    /// local writes know their records, and logging costs every operation.
    pub fn apply_remote(&mut self, changes: &[Vec<u8>]) -> Result<RemoteApplied> {
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
        let before = self.am.get_heads();
        self.am.update_diff_cursor();
        let applied = self.am.apply_changes(decoded);
        let patches = self.am.diff_incremental();
        self.am.reset_diff_cursor();
        applied.map_err(|source| Error::Changes { doc: doc.clone(), source })?;
        if self.am.get_heads() == before {
            return Ok(RemoteApplied::default());
        }
        let mut touched = BTreeSet::new();
        for patch in patches {
            if let Some((_, Prop::Map(record))) = patch.path.get(1) {
                touched.insert(record.clone());
            } else if patch.obj == self.records {
                match patch.action {
                    PatchAction::PutMap { key, .. } | PatchAction::DeleteMap { key } => {
                        touched.insert(key);
                    }
                    _ => {}
                }
            }
        }
        let new = self.am.get_changes(&before);
        let time_max_ms = new.iter().map(Change::timestamp).max().unwrap_or(0);
        Ok(RemoteApplied { changes: new.iter().map(|c| c.raw_bytes().to_vec()).collect(), time_max_ms, touched })
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
