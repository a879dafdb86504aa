//! Registry documents on Automerge.
//!
//! One document holds the records of one shard of one registry of one community
//! (`DocId`). It starts from the shared genesis, is written by this node's actor with
//! commit times from the HLC, and reports which records each change touched, so the
//! views can be updated from patches rather than by rescanning.

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
use automerge::{
    ActorId, AutoCommit, Change, ObjId, ObjType, PatchAction, Prop, ROOT, ReadDoc, ScalarValue,
};
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
            let winner = claims
                .winner()
                .map(|c| c.by.clone().into())
                .unwrap_or(serde_json::Value::Null);
            map.insert(name.clone(), winner);
            let all = claims
                .entries
                .iter()
                .map(|c| serde_json::json!({"by": c.by, "node": c.node}))
                .collect();
            map.insert(format!("{name}_claims"), serde_json::Value::Array(all));
        }
        serde_json::Value::Object(map)
    }
}

pub struct RegistryDoc {
    id: DocId,
    schema: Arc<Schema>,
    am: AutoCommit,
    records: ObjId,
    /// Each record's contribution to the views, derived from the document at load and
    /// kept current from patches: the "before" side of every view update.
    rows: HashMap<String, Row>,
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
        let am_err = |source| Error::Automerge {
            doc: id.to_string(),
            source,
        };
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
        let mut doc = Self {
            id,
            schema,
            am,
            records,
            rows: HashMap::new(),
        };
        let ids: Vec<String> = doc.am.keys(&doc.records).collect();
        for record in ids {
            if let Some(row) = doc.row(&record) {
                doc.rows.insert(record, row);
            }
        }
        // From here on, every change logs patches so touched records are known cheaply.
        doc.am.update_diff_cursor();
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
        Some(Record {
            key: RecordKey {
                doc: self.id.clone(),
                id: record.to_string(),
            },
            fields,
            claims,
        })
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
            read(&machine.field)
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| machine.initial.clone())
        });
        let category = schema
            .views
            .count_by
            .as_deref()
            .and_then(read)
            .and_then(|v| v.as_str().map(str::to_string));
        let sums = schema
            .views
            .sums
            .iter()
            .map(|f| read(f).and_then(|v| v.as_i64()).unwrap_or(0))
            .collect();
        let open = match (&schema.status, &status) {
            (Some(machine), Some(status)) => machine.is_open(status),
            _ => false,
        };
        let deadline_ms = if open {
            schema
                .views
                .deadline
                .as_deref()
                .and_then(read)
                .and_then(|v| v.as_i64())
        } else {
            None
        };
        Some(Row {
            status,
            category,
            sums,
            deadline_ms,
        })
    }

    /// Applies a validated plan to the open transaction. Commit with [`Self::commit`].
    pub fn apply(&mut self, plan: &Plan, at: Hlc, node: &str) -> Result<()> {
        let doc_name = self.id.to_string();
        let am_err = |source| Error::Automerge {
            doc: doc_name.clone(),
            source,
        };
        let rec = if plan.create {
            let rec = self
                .am
                .put_object(&self.records, plan.record.as_str(), ObjType::Map)
                .map_err(am_err)?;
            // Counters and claim maps exist from the start: created concurrently later, one
            // replica's object would win and the other's increments or claims would be lost.
            for spec in self.schema.fields.values() {
                match spec.ty {
                    FieldType::Counter => {
                        self.am
                            .put(&rec, spec.name.as_str(), ScalarValue::counter(0))
                            .map_err(am_err)?;
                    }
                    FieldType::Claim => {
                        self.am
                            .put_object(&rec, spec.name.as_str(), ObjType::Map)
                            .map_err(am_err)?;
                    }
                    _ => {}
                }
            }
            rec
        } else {
            self.record_obj(&plan.record)
                .ok_or_else(|| Error::RecordNotFound {
                    record: format!("{}/{}", self.id, plan.record),
                })?
        };
        for op in &plan.ops {
            match op {
                DocOp::Put(field, value) => self.put_value(&rec, field, value).map_err(am_err)?,
                DocOp::Add(field, delta) => self
                    .am
                    .increment(&rec, field.as_str(), *delta)
                    .map_err(am_err)?,
                DocOp::Claim(field, by) => {
                    let map = match self.am.get(&rec, field.as_str()).map_err(am_err)? {
                        Some((automerge::Value::Object(ObjType::Map), map)) => map,
                        _ => self
                            .am
                            .put_object(&rec, field.as_str(), ObjType::Map)
                            .map_err(am_err)?,
                    };
                    self.am
                        .put(&map, claim_key(at, node), by.as_str())
                        .map_err(am_err)?;
                }
            }
        }
        Ok(())
    }

    fn put_value(
        &mut self,
        rec: &ObjId,
        field: &str,
        value: &Value,
    ) -> Result<(), automerge::AutomergeError> {
        match value {
            Value::Str(s) | Value::Enum(s) => self.am.put(rec, field, s.as_str()),
            Value::Int(v) | Value::Fen(v) => self.am.put(rec, field, *v),
            Value::TimeMs(v) => self.am.put(rec, field, ScalarValue::Timestamp(*v)),
            Value::Bool(b) => self.am.put(rec, field, *b),
            Value::Counter(v) => self.am.put(rec, field, ScalarValue::counter(*v)),
            Value::Ids(ids) => {
                let list = self.am.put_object(rec, field, ObjType::List)?;
                for (i, id) in ids.iter().enumerate() {
                    self.am.insert(&list, i, id.as_str())?;
                }
                Ok(())
            }
        }
    }

    /// Commits the open transaction. Returns the new change's bytes, or `None` when
    /// nothing was written.
    pub fn commit(&mut self, at: Hlc) -> Option<Vec<u8>> {
        let time = i64::try_from(at.wall_ms()).unwrap_or(i64::MAX);
        self.am
            .commit_with(CommitOptions::default().with_time(time))?;
        self.am
            .get_last_local_change()
            .map(|c| c.raw_bytes().to_vec())
    }

    /// Drops whatever the open transaction holds (a write that failed half way).
    pub fn rollback(&mut self) {
        self.am.rollback();
    }

    /// Applies a peer's changes in one call. Returns the bytes of the changes that were
    /// new here (duplicates are dropped; changes whose dependencies are missing wait in
    /// Automerge's queue and are returned once they apply) and the highest commit time.
    pub fn apply_remote(&mut self, changes: &[Vec<u8>]) -> Result<(Vec<Vec<u8>>, i64)> {
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
        self.am
            .apply_changes(decoded)
            .map_err(|source| Error::Changes {
                doc: doc.clone(),
                source,
            })?;
        if self.am.get_heads() == before {
            return Ok((Vec::new(), 0));
        }
        let new = self.am.get_changes(&before);
        let time_max = new.iter().map(Change::timestamp).max().unwrap_or(0);
        Ok((
            new.iter().map(|c| c.raw_bytes().to_vec()).collect(),
            time_max,
        ))
    }

    /// Records touched since the last call, with their view rows before and after.
    /// Derived from Automerge's patches, so a merge that lost a conflict is seen too.
    pub fn take_row_changes(&mut self) -> Vec<(String, Option<Row>, Option<Row>)> {
        let patches = self.am.diff_incremental();
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
        touched
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
