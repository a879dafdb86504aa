//! `v1::Frame` <-> `linli_core::link::Frame`: everything a replication link carries.

use crate::ProtoError;
use crate::v1;
use crate::v1::frame::Body;
use linli_core::ids::{DocId, NodeId};
use linli_core::link::limits::TIERS_ABOVE_MAX;
use linli_core::link::{Checkpoint, Frame, Hello, Tier};
use linli_core::store::LogEntry;

/// A tier on the wire: its height plus one ([`v1::Tier`] names the first four; 0 is
/// unspecified).
pub fn tier_to_wire(tier: Tier) -> i32 {
    tier.height() as i32 + 1
}

/// A tier from the wire; `message` and `field` name where it was read.
pub(crate) fn tier_from_wire(tier: i32, message: &'static str, field: &'static str) -> Result<Tier, ProtoError> {
    if tier == v1::Tier::Unspecified as i32 {
        return Err(ProtoError::Missing { message, field });
    }
    let height = usize::try_from(tier).ok().and_then(|t| t.checked_sub(1));
    height.and_then(Tier::at_height).ok_or_else(|| ProtoError::Invalid {
        message,
        field,
        reason: format!("is not a tier ({tier})"),
    })
}

impl From<&Frame> for v1::Frame {
    fn from(frame: &Frame) -> Self {
        let body = match frame {
            Frame::Hello(hello) => Body::Hello(v1::Hello {
                node: hello.node.to_string(),
                tier: tier_to_wire(hello.tier),
                log_id: hello.log_id.clone(),
                log_end: hello.log_end,
                log_trimmed: hello.log_trimmed,
                reads_zstd: false,
                checkpoint: hello.checkpoint.as_ref().map(|cp| v1::Checkpoint {
                    log_id: cp.log_id.clone(),
                    through: cp.through,
                    fingerprint: cp.fingerprint,
                }),
                subtree: hello.subtree.iter().cloned().collect(),
            }),
            Frame::Batch { entries, through, fingerprint } => Body::Batch(v1::LogBatch {
                entries: entries.iter().map(v1::LogEntry::from).collect(),
                through: *through,
                fingerprint: *fingerprint,
            }),
            Frame::Ack { through, above } => Body::Ack(v1::Ack { through: *through, above: above.clone() }),
            Frame::Refusal { seq, doc, reason } => {
                Body::Refusal(v1::Refusal { seq: *seq, doc: doc.clone(), reason: reason.clone() })
            }
            Frame::Sync { doc, message } => {
                Body::Sync(v1::SyncMessage { doc: doc.to_string(), message: message.clone() })
            }
        };
        v1::Frame { body: Some(body) }
    }
}

impl TryFrom<v1::Frame> for Frame {
    type Error = ProtoError;

    fn try_from(frame: v1::Frame) -> Result<Self, ProtoError> {
        let core = |message| move |source| ProtoError::Core { message, source: Box::new(source) };
        Ok(match frame.body.ok_or(ProtoError::Missing { message: "Frame", field: "body" })? {
            Body::Hello(hello) if hello.log_trimmed > hello.log_end => {
                let reason = format!("{} is past `log_end` {}", hello.log_trimmed, hello.log_end);
                return Err(ProtoError::Invalid { message: "Hello", field: "log_trimmed", reason });
            }
            Body::Hello(hello) => Frame::Hello(Hello {
                node: NodeId::new(&hello.node).map_err(core("Hello"))?,
                tier: tier_from_wire(hello.tier, "Hello", "tier")?,
                log_id: hello.log_id,
                log_end: hello.log_end,
                log_trimmed: hello.log_trimmed,
                checkpoint: hello.checkpoint.map(|cp| Checkpoint {
                    log_id: cp.log_id,
                    through: cp.through,
                    fingerprint: cp.fingerprint,
                }),
                subtree: hello.subtree.into_iter().collect(),
            }),
            Body::Batch(batch) => Frame::Batch {
                entries: batch.entries.into_iter().map(LogEntry::try_from).collect::<Result<_, _>>()?,
                through: batch.through,
                fingerprint: batch.fingerprint,
            },
            Body::Ack(ack) => {
                if ack.above.len() > TIERS_ABOVE_MAX {
                    return Err(ProtoError::Invalid {
                        message: "Ack",
                        field: "above",
                        reason: format!(
                            "holds {} tiers, past the {TIERS_ABOVE_MAX} a tree may have above a parent",
                            ack.above.len()
                        ),
                    });
                }
                Frame::Ack { through: ack.through, above: ack.above }
            }
            Body::Refusal(refusal) => Frame::Refusal { seq: refusal.seq, doc: refusal.doc, reason: refusal.reason },
            Body::Sync(sync) => {
                Frame::Sync { doc: DocId::parse(&sync.doc).map_err(core("SyncMessage"))?, message: sync.message }
            }
            // Only a link session's codec (`crate::wire`) opens these: outside a
            // session (a Hello, or a frame inside a compressed one) it is refused.
            Body::Zstd(_) => {
                return Err(ProtoError::Invalid {
                    message: "Frame",
                    field: "zstd",
                    reason: "is a compressed frame where only a plain one may be".into(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        assert_eq!(Frame::try_from(v1::Frame::from(&frame)).unwrap(), frame);
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::Hello(Hello {
            node: NodeId::new("lg-pingdi").unwrap(),
            tier: Tier::Street,
            log_id: "lg-pingdi.1f".into(),
            log_end: 12,
            log_trimmed: 4,
            checkpoint: Some(Checkpoint { log_id: "lg.2".into(), through: 7, fingerprint: 0xabc }),
            subtree: ["lg-pingdi".to_string(), "lg-pingdi-pingdi".to_string()].into(),
        }));
        let doc = DocId::parse("lg-pingdi-pingdi/requests/2026-11").unwrap();
        let entry = LogEntry { seq: 3, doc: doc.clone(), origin: None, changes: vec![vec![1]], traces: Vec::new() };
        round_trip(Frame::Batch { entries: vec![entry], through: 5, fingerprint: 9 });
        round_trip(Frame::Ack { through: 5, above: vec![4, 2] });
        round_trip(Frame::Refusal { seq: 3, doc: doc.to_string(), reason: "not yours".into() });
        round_trip(Frame::Sync { doc, message: vec![0x42, 1] });
    }

    #[test]
    fn a_hello_without_a_tier_or_a_frame_without_a_body_is_refused() {
        let mut hello = v1::Frame::from(&Frame::Hello(Hello {
            node: NodeId::new("c").unwrap(),
            tier: Tier::Community,
            log_id: "c.1".into(),
            log_end: 0,
            log_trimmed: 0,
            checkpoint: None,
            subtree: Default::default(),
        }));
        let mut trimmed_past_end = hello.clone();
        if let Some(Body::Hello(h)) = trimmed_past_end.body.as_mut() {
            h.log_trimmed = 1;
        }
        let refused = Frame::try_from(trimmed_past_end).unwrap_err().to_string();
        assert_eq!(refused, "Hello: `log_trimmed` 1 is past `log_end` 0");
        if let Some(Body::Hello(h)) = hello.body.as_mut() {
            h.tier = 0;
        }
        assert_eq!(Frame::try_from(hello.clone()).unwrap_err().to_string(), "Hello: `tier` is missing");
        // A city is its height plus one; past the highest tier a tree may have, refused.
        assert_eq!(tier_to_wire(Tier::City), v1::Tier::City as i32);
        assert_eq!(tier_from_wire(v1::Tier::City as i32, "Hello", "tier").ok(), Some(Tier::City));
        if let Some(Body::Hello(h)) = hello.body.as_mut() {
            h.tier = linli_core::link::TIERS_MAX as i32 + 1;
        }
        assert_eq!(Frame::try_from(hello).unwrap_err().to_string(), "Hello: `tier` is not a tier (11)");
        assert_eq!(Frame::try_from(v1::Frame { body: None }).unwrap_err().to_string(), "Frame: `body` is missing");
        let bad = v1::Frame { body: Some(Body::Sync(v1::SyncMessage { doc: "x".into(), message: vec![] })) };
        assert!(Frame::try_from(bad).unwrap_err().to_string().starts_with("SyncMessage: bad document id"));
    }
}
