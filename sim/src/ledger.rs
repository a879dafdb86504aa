//! The workload's own record of acknowledged writes, and what the district must hold
//! because of them.
//!
//! Every write the workload saw acknowledged is laid over the record it targets, in
//! acknowledgement order. The chain of writes to one record is causal by design (see
//! [`crate::workload`]), except the concurrent claims of a task, which set the same
//! status and add to a claim set; so the expected final value of every field is known
//! here without asking any replica. The expected views are computed from these
//! records by the core's own row function and recount, so the comparison with the
//! district's maintained views is exact.

use crate::error::SimError;
use linli_core::doc::read_row;
use linli_core::ids::{DocId, RecordKey};
use linli_core::replica::{SplitRule, Written, split_value};
use linli_core::schema::{Registries, Schema};
use linli_core::value::{self, Value};
use linli_core::views::{Row, Views};
use linli_core::write::{FieldOp, Target, Write};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A record as the acknowledged writes left it.
#[derive(Debug, Clone)]
pub struct Expected {
    pub schema: Arc<Schema>,
    /// Replicated fields only; `local` ones are never expected above the community.
    pub fields: BTreeMap<String, Value>,
    /// Claim fields: everyone whose claim was acknowledged.
    pub claimants: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug)]
pub struct Ledger {
    registries: Registries,
    records: BTreeMap<RecordKey, Expected>,
    /// Originals a split copied elsewhere: history, out of the views.
    moved: BTreeSet<RecordKey>,
    writes: u64,
}

impl Ledger {
    pub fn new(registries: Registries) -> Self {
        Self { registries, records: BTreeMap::new(), moved: BTreeSet::new(), writes: 0 }
    }

    pub fn writes(&self) -> u64 {
        self.writes
    }

    pub fn records(&self) -> &BTreeMap<RecordKey, Expected> {
        &self.records
    }

    /// Lays an acknowledged write over its record.
    pub fn acknowledge(&mut self, write: &Write, written: &Written) -> Result<(), SimError> {
        let key = &written.key;
        let ledger_error = |reason: String| SimError::Ledger { key: key.to_string(), reason };
        if let Target::Create { registry, .. } = &write.target {
            let schema = self.registries.get(registry).map_err(|e| ledger_error(e.to_string()))?.clone();
            let mut fields = BTreeMap::new();
            // A new record starts in its status machine's initial status, unless the
            // write sets one.
            if let Some(machine) = &schema.status {
                let spec =
                    schema.field(&machine.field).ok_or_else(|| ledger_error(format!("no field {}", machine.field)))?;
                let initial = value::parse(&spec.ty, &serde_json::Value::String(machine.initial.clone()))
                    .map_err(|p| ledger_error(format!("initial status: {p:?}")))?;
                fields.insert(machine.field.clone(), initial);
            }
            self.records.insert(key.clone(), Expected { schema, fields, claimants: BTreeMap::new() });
        }
        let record =
            self.records.get_mut(key).ok_or_else(|| ledger_error("an update of a record never created".into()))?;
        for op in &write.ops {
            let spec =
                record.schema.field(op.field()).ok_or_else(|| ledger_error(format!("no field {}", op.field())))?;
            if spec.local {
                continue;
            }
            match op {
                FieldOp::Set { field, value } => {
                    let value =
                        value::parse(&spec.ty, value).map_err(|p| ledger_error(format!("field {field}: {p:?}")))?;
                    record.fields.insert(field.clone(), value);
                }
                FieldOp::Add { field, delta } => {
                    let total = record.fields.get(field).and_then(Value::as_i64).unwrap_or(0) + delta;
                    record.fields.insert(field.clone(), Value::Counter(total));
                }
                FieldOp::Claim { field, by } => {
                    record.claimants.entry(field.clone()).or_default().insert(by.clone());
                }
            }
        }
        self.writes += 1;
        Ok(())
    }

    /// A split as the ledger sees it (the rules of `docs/split.md`, the core's own
    /// reading of the field): every record of `rule.from` not moved yet goes to the
    /// community the rule picks, under the same id with the same fields and claims, and
    /// the original stays as history, out of the views. Returns the records moved.
    ///
    /// Applied once the workload is over, which equals applying it when the split ran:
    /// every write to the community was applied at the node that split it before it
    /// did (the run waits for that), and none after (the old community stops writing;
    /// a write to a moved record is refused).
    pub fn split(&mut self, rule: &SplitRule) -> Result<usize, SimError> {
        let sources: Vec<RecordKey> = self
            .records
            .keys()
            .filter(|key| key.doc.owner == rule.from && !self.moved.contains(*key))
            .cloned()
            .collect();
        let mut moved = 0;
        for key in sources {
            let record = self.records[&key].clone();
            let value = record.fields.get(&rule.by_field).map(split_value);
            let Some(owner) = value.and_then(|v| rule.to.get(&v)).or(rule.default_to.as_ref()) else { continue };
            let bad = |e: linli_core::Error| SimError::Ledger { key: key.to_string(), reason: e.to_string() };
            let doc = DocId::new(owner, &key.doc.registry, &key.doc.shard).map_err(bad)?;
            let copy = RecordKey::new(doc, &key.id).map_err(bad)?;
            self.records.insert(copy, record);
            self.moved.insert(key);
            moved += 1;
        }
        Ok(moved)
    }

    /// The views a replica holding every acknowledged record must have.
    pub fn expected_views(&self) -> Views {
        let rows: Vec<(&Schema, &DocId, &str, Row)> = self
            .records
            .iter()
            .filter(|(key, _)| !self.moved.contains(*key))
            .map(|(key, record)| {
                let row = read_row(&record.schema, |name| record.fields.get(name).cloned());
                (record.schema.as_ref(), &key.doc, key.id.as_str(), row)
            })
            .collect();
        Views::rebuild(rows.iter().map(|(schema, doc, id, row)| (*schema, *doc, *id, row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::hlc::Hlc;
    use serde_json::json;

    fn ack(ledger: &mut Ledger, write: Write, key: &RecordKey) {
        ledger.acknowledge(&write, &Written { key: key.clone(), seq: Some(1), at: Hlc(1) }).expect("ack");
    }

    #[test]
    fn acknowledged_writes_make_the_expected_records_and_views() {
        let mut ledger = Ledger::new(Registries::defaults().expect("registries"));
        let key = RecordKey::parse("c1/volunteers/2026-11/r1").expect("key");
        let mut create = Write::create(
            "c1",
            "volunteers",
            &[
                ("member", json!("m1")),
                ("team", json!("t")),
                ("month_of", json!(1_794_758_400_000_i64)),
                ("name", json!("王")),
            ],
        );
        create.ops.push(FieldOp::Add { field: "hours".into(), delta: 2 });
        ack(&mut ledger, create, &key);
        ack(&mut ledger, Write::update(key.clone(), vec![FieldOp::Add { field: "hours".into(), delta: 3 }]), &key);
        let record = &ledger.records()[&key];
        assert_eq!(record.fields.get("hours"), Some(&Value::Counter(5)));
        assert!(!record.fields.contains_key("name"), "a local field is never expected above its community");
        let views = ledger.expected_views();
        let hours: i64 = views.sums.iter().filter(|(k, _)| k.field == "hours").map(|(_, v)| v).sum();
        assert_eq!(hours, 5);
        assert_eq!(ledger.writes(), 2);
    }

    #[test]
    fn a_split_moves_records_by_the_rule_and_counts_each_once() {
        let mut ledger = Ledger::new(Registries::defaults().expect("registries"));
        for (i, grid) in ["第1网格", "第2网格", "第9网格"].iter().enumerate() {
            let write = Write::create(
                "c1",
                "requests",
                &[
                    ("category", json!("other")),
                    ("channel", json!("qr_code")),
                    ("grid", json!(grid)),
                    ("summary", json!("路灯不亮")),
                    ("reported_at", json!(1_794_758_400_000_i64)),
                ],
            );
            let key = RecordKey::parse(&format!("c1/requests/2026-11/r{i}")).expect("key");
            ack(&mut ledger, write, &key);
        }
        let counted = |ledger: &Ledger, owner: &str| -> i64 {
            ledger.expected_views().counts.iter().filter(|(k, _)| k.community == owner).map(|(_, n)| n).sum()
        };
        assert_eq!(counted(&ledger, "c1"), 3);
        let rule = SplitRule {
            from: "c1".into(),
            by_field: "grid".into(),
            to: [("第1网格".to_string(), "c1-a".to_string()), ("第2网格".to_string(), "c1-b".to_string())].into(),
            default_to: None,
        };
        assert_eq!(ledger.split(&rule).expect("split"), 2, "the unmapped grid stays");
        assert_eq!((counted(&ledger, "c1"), counted(&ledger, "c1-a"), counted(&ledger, "c1-b")), (1, 1, 1));
        let copy = RecordKey::parse("c1-b/requests/2026-11/r1").expect("copy");
        assert_eq!(ledger.records()[&copy].fields.get("grid"), Some(&Value::Str("第2网格".into())));
        assert_eq!(ledger.split(&rule).expect("again"), 0, "a second split moves nothing");
    }

    #[test]
    fn an_update_of_an_unknown_record_is_an_error() {
        let mut ledger = Ledger::new(Registries::defaults().expect("registries"));
        let key = RecordKey::parse("c1/requests/2026-11/r9").expect("key");
        let err = ledger
            .acknowledge(
                &Write::set(key.clone(), &[("status", json!("closed"))]),
                &Written { key, seq: None, at: Hlc(1) },
            )
            .expect_err("unknown");
        assert!(err.to_string().contains("never created"), "{err}");
    }
}
