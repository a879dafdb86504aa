//! `WriteRequest` <-> `linli_core::write::Write`.

use crate::ProtoError;
use crate::v1;
use linli_core::ids::RecordKey;
use linli_core::link::Tier;
use linli_core::write::{FieldOp, Target, Write};

const MESSAGE: &str = "WriteRequest";

impl From<&Write> for v1::WriteRequest {
    fn from(write: &Write) -> Self {
        let target = match &write.target {
            Target::Create { owner, registry } => {
                v1::write_request::Target::Create(v1::CreateTarget { owner: owner.clone(), registry: registry.clone() })
            }
            Target::Update(key) => v1::write_request::Target::UpdateKey(key.to_string()),
        };
        let ops = write
            .ops
            .iter()
            .map(|op| {
                let (field, op) = match op {
                    FieldOp::Set { field, value } => (field, v1::field_op::Op::SetJson(value.to_string())),
                    FieldOp::Add { field, delta } => (field, v1::field_op::Op::Add(*delta)),
                    FieldOp::Claim { field, by } => (field, v1::field_op::Op::ClaimBy(by.clone())),
                };
                v1::FieldOp { field: field.clone(), op: Some(op) }
            })
            .collect();
        v1::WriteRequest { target: Some(target), ops, ..Default::default() }
    }
}

/// Wait for a write to be durable at the tier of `durable_at` when nothing else is said.
pub const WAIT_MS_DEFAULT: u64 = 10_000;
/// The longest wait a client may ask for.
pub const WAIT_MS_MAX: u64 = 600_000;

/// What a `WriteRequest` asks to wait for before its answer: a tier above the node and
/// how long, in ms; `None` to be answered once the write is durable where it is made.
pub fn durable_wait(request: &v1::WriteRequest) -> Result<Option<(Tier, u64)>, ProtoError> {
    if request.durable_at == v1::Tier::Unspecified as i32 {
        return Ok(None);
    }
    let tier = super::frame::tier_from_wire(request.durable_at, MESSAGE, "durable_at")?;
    let wait_ms = request.wait_ms.unwrap_or(WAIT_MS_DEFAULT);
    if wait_ms > WAIT_MS_MAX {
        return Err(ProtoError::Invalid {
            message: MESSAGE,
            field: "wait_ms",
            reason: format!("is {wait_ms}, past the longest wait of {WAIT_MS_MAX} ms"),
        });
    }
    Ok(Some((tier, wait_ms)))
}

impl TryFrom<v1::WriteRequest> for Write {
    type Error = ProtoError;

    fn try_from(request: v1::WriteRequest) -> Result<Self, ProtoError> {
        let target = match request.target.ok_or(ProtoError::Missing { message: MESSAGE, field: "target" })? {
            v1::write_request::Target::Create(create) => {
                Target::Create { owner: create.owner, registry: create.registry }
            }
            v1::write_request::Target::UpdateKey(key) => Target::Update(
                RecordKey::parse(&key)
                    .map_err(|source| ProtoError::Core { message: MESSAGE, source: Box::new(source) })?,
            ),
        };
        let mut ops = Vec::with_capacity(request.ops.len());
        for op in request.ops {
            let field = op.field;
            ops.push(match op.op.ok_or(ProtoError::Missing { message: MESSAGE, field: "ops.op" })? {
                v1::field_op::Op::SetJson(json) => {
                    let value = serde_json::from_str(&json).map_err(|e| ProtoError::BadJson {
                        message: MESSAGE,
                        field: field.clone(),
                        reason: e.to_string(),
                    })?;
                    FieldOp::Set { field, value }
                }
                v1::field_op::Op::Add(delta) => FieldOp::Add { field, delta },
                v1::field_op::Op::ClaimBy(by) => FieldOp::Claim { field, by },
            });
        }
        // A trace comes with the call's metadata, not its message: the server sets it.
        Ok(Write { target, ops, trace: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_round_trip_and_bad_json_names_the_field() {
        let key = RecordKey::parse("lg-pingdi-pingdi/tasks/2026-11/r1.lg-pingdi-pingdi").unwrap();
        let writes = [
            Write::create("lg-pingdi-pingdi", "requests", &[("summary", json!("路面鼓包")), ("reported_at", json!(1))]),
            Write::update(
                key,
                vec![
                    FieldOp::Set { field: "status".into(), value: json!("accepted") },
                    FieldOp::Claim { field: "assignee".into(), by: "v1".into() },
                    FieldOp::Add { field: "hours".into(), delta: 2 },
                ],
            ),
        ];
        for write in writes {
            assert_eq!(Write::try_from(v1::WriteRequest::from(&write)).unwrap(), write);
        }
        let bad = v1::WriteRequest {
            target: Some(v1::write_request::Target::UpdateKey("lg-pingdi-pingdi/tasks/2026-11/r1".into())),
            ops: vec![v1::FieldOp { field: "status".into(), op: Some(v1::field_op::Op::SetJson("accepted".into())) }],
            ..Default::default()
        };
        let err = Write::try_from(bad).unwrap_err().to_string();
        assert!(err.starts_with("WriteRequest: `status` is not valid JSON"), "{err}");
        let err = Write::try_from(v1::WriteRequest::default()).unwrap_err().to_string();
        assert_eq!(err, "WriteRequest: `target` is missing");
    }

    #[test]
    fn a_wait_names_a_known_tier_within_the_longest_wait() {
        let mut request = v1::WriteRequest::default();
        assert_eq!(durable_wait(&request).unwrap(), None);
        request.durable_at = v1::Tier::District as i32;
        assert_eq!(durable_wait(&request).unwrap(), Some((Tier::District, WAIT_MS_DEFAULT)));
        request.wait_ms = Some(WAIT_MS_MAX + 1);
        let err = durable_wait(&request).unwrap_err().to_string();
        assert_eq!(err, "WriteRequest: `wait_ms` is 600001, past the longest wait of 600000 ms");
        request.wait_ms = None;
        request.durable_at = v1::Tier::City as i32;
        assert_eq!(durable_wait(&request).unwrap(), Some((Tier::City, WAIT_MS_DEFAULT)));
        // Past the highest tier a tree may have (wire 10 is the tenth, `tier-9`).
        request.durable_at = 11;
        let err = durable_wait(&request).unwrap_err().to_string();
        assert_eq!(err, "WriteRequest: `durable_at` is not a tier (11)");
    }
}
