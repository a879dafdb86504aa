//! Checking a write against the schema and the record's current state.
//!
//! A write becomes a [`Plan`] only if every one of its operations is valid; otherwise
//! the first problem is returned and nothing is applied. Validation reads the document
//! but never changes it.

use super::{MOVED_TO, RegistryDoc, SPLIT_FROM};
use crate::error::{Error, Problem, Result};
use crate::schema::FieldType;
use crate::value::{self, Value};
use crate::write::FieldOp;
use std::collections::BTreeMap;

/// Bytes a claim entry adds to a record (key plus claimant), for the size bound.
const CLAIM_BYTES: usize = 48;

#[derive(Debug, Clone, PartialEq)]
pub enum DocOp {
    Put(String, Value),
    Add(String, i64),
    Claim(String, String),
    /// A claim under a key of its own (a claim carried over from a split's original,
    /// see [`super::late`]), not under the write's time and node.
    ClaimAs(String, String, String),
}

/// A validated write: what goes into the document, and what goes to the local store.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub record: String,
    pub create: bool,
    pub ops: Vec<DocOp>,
    /// Personal data: never enters the document.
    pub local: Vec<(String, Value)>,
}

impl RegistryDoc {
    pub fn plan(&self, record: &str, create: bool, ops: &[FieldOp]) -> Result<Plan> {
        let schema = self.schema.clone();
        let key = format!("{}/{}", self.id, record);
        let invalid = |field: &str, problem| Error::Invalid { record: key.clone(), field: field.into(), problem };

        let current = if create {
            None
        } else {
            Some(self.get(record).ok_or_else(|| Error::RecordNotFound { record: key.clone() })?)
        };
        // A split copied it elsewhere: the original is history, the copy takes writes.
        if let Some(to) = current.as_ref().and_then(|rec| rec.get(MOVED_TO)).and_then(|v| v.as_str()) {
            return Err(invalid(MOVED_TO, Problem::Moved { to: to.to_string() }));
        }
        let mut status_now = match (&schema.status, &current) {
            (Some(machine), Some(rec)) => {
                Some(rec.get(&machine.field).and_then(|v| v.as_str()).unwrap_or(&machine.initial).to_string())
            }
            _ => None,
        };

        let mut plan = Plan { record: record.to_string(), create, ops: Vec::new(), local: Vec::new() };
        for op in ops {
            let name = op.field();
            if name == MOVED_TO || name == SPLIT_FROM {
                return Err(invalid(name, Problem::SystemField));
            }
            let spec = schema.field(name).ok_or_else(|| invalid(name, Problem::UnknownField))?;
            let wrong_op =
                || invalid(name, Problem::WrongOperation { field_type: spec.ty.name(), operation: op.operation() });
            match op {
                FieldOp::Set { value: json, .. } => {
                    let value = value::parse(&spec.ty, json).map_err(|p| invalid(name, p))?;
                    if let Some(machine) = schema.status.as_ref().filter(|m| m.field == name) {
                        let to = value.as_str().unwrap_or_default().to_string();
                        match &status_now {
                            None if to != machine.initial => {
                                return Err(invalid(
                                    name,
                                    Problem::StatusOnCreate { initial: machine.initial.clone(), got: to },
                                ));
                            }
                            Some(from) if !machine.allows(from, &to) => {
                                return Err(invalid(
                                    name,
                                    Problem::IllegalTransition {
                                        from: from.clone(),
                                        to,
                                        allowed: machine.allowed_from(from),
                                    },
                                ));
                            }
                            _ => status_now = Some(to),
                        }
                    }
                    if spec.local {
                        plan.local.push((name.to_string(), value));
                    } else {
                        plan.ops.push(DocOp::Put(name.to_string(), value));
                    }
                }
                FieldOp::Add { delta, .. } => {
                    if spec.ty != FieldType::Counter {
                        return Err(wrong_op());
                    }
                    if *delta <= 0 {
                        return Err(invalid(name, Problem::CounterNotPositive { delta: *delta }));
                    }
                    plan.ops.push(DocOp::Add(name.to_string(), *delta));
                }
                FieldOp::Claim { by, .. } => {
                    if spec.ty != FieldType::Claim {
                        return Err(wrong_op());
                    }
                    crate::ids::NodeId::new(by).map_err(|e| {
                        invalid(name, Problem::WrongType { expected: "a claimant id", got: e.to_string() })
                    })?;
                    plan.ops.push(DocOp::Claim(name.to_string(), by.clone()));
                }
            }
        }

        if create {
            for spec in schema.fields.values().filter(|f| f.required) {
                let given = plan.ops.iter().any(|op| matches!(op, DocOp::Put(f, _) if *f == spec.name));
                if !given {
                    return Err(invalid(&spec.name, Problem::MissingRequired));
                }
            }
            if let Some(machine) = &schema.status
                && status_now.is_none()
            {
                plan.ops.push(DocOp::Put(machine.field.clone(), Value::Enum(machine.initial.clone())));
            }
        }

        self.check_size(&plan, current.as_ref(), &invalid)?;
        Ok(plan)
    }

    fn check_size(
        &self,
        plan: &Plan,
        current: Option<&super::Record>,
        invalid: &dyn Fn(&str, Problem) -> Error,
    ) -> Result<()> {
        let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
        let mut claims = 0;
        if let Some(rec) = current {
            // A split's system fields don't count: a copy takes the writes its original did.
            for (name, value) in rec.fields.iter().filter(|(name, _)| !super::SYSTEM_FIELDS.contains(&name.as_str())) {
                sizes.insert(name, name.len() + value.size_bytes());
            }
            claims = rec.claims.values().map(|c| c.entries.len()).sum();
        }
        for op in &plan.ops {
            match op {
                DocOp::Put(name, value) => {
                    sizes.insert(name, name.len() + value.size_bytes());
                }
                DocOp::Claim(..) | DocOp::ClaimAs(..) => claims += 1,
                DocOp::Add(..) => {}
            }
        }
        let bytes = sizes.values().sum::<usize>() + claims * CLAIM_BYTES;
        let bytes_max = self.schema.record_bytes_max;
        if bytes > bytes_max {
            // Name the largest field this write sets: the likeliest thing to fix.
            let field = plan
                .ops
                .iter()
                .filter_map(|op| match op {
                    DocOp::Put(name, value) => Some((value.size_bytes(), name.as_str())),
                    DocOp::Claim(name, _) | DocOp::ClaimAs(name, ..) => Some((CLAIM_BYTES, name.as_str())),
                    DocOp::Add(..) => None,
                })
                .max()
                .map(|(_, name)| name)
                .unwrap_or("-");
            return Err(invalid(field, Problem::RecordTooLarge { bytes, bytes_max }));
        }
        Ok(())
    }
}
