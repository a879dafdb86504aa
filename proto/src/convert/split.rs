//! `SplitRequest` <-> `linli_core::replica::SplitRule`, `SplitReply` <->
//! `linli_core::replica::SplitReport`.

use crate::ProtoError;
use crate::v1;
use linli_core::replica::{SplitReport, SplitRule};

impl From<&SplitRule> for v1::SplitRequest {
    fn from(rule: &SplitRule) -> Self {
        v1::SplitRequest {
            from: rule.from.clone(),
            by_field: rule.by_field.clone(),
            to: rule.to.clone().into_iter().collect(),
            default_to: rule.default_to.clone(),
        }
    }
}

/// The engine checks a rule's owners, field and scope; the wire carries it as given.
impl From<v1::SplitRequest> for SplitRule {
    fn from(request: v1::SplitRequest) -> Self {
        let v1::SplitRequest { from, by_field, to, default_to } = request;
        SplitRule { from, by_field, to: to.into_iter().collect(), default_to }
    }
}

impl From<&SplitReport> for v1::SplitReply {
    fn from(report: &SplitReport) -> Self {
        v1::SplitReply {
            moved: report.moved.iter().map(|(owner, n)| (owner.clone(), *n as u64)).collect(),
            left: report.left as u64,
        }
    }
}

impl TryFrom<v1::SplitReply> for SplitReport {
    type Error = ProtoError;

    fn try_from(reply: v1::SplitReply) -> Result<Self, ProtoError> {
        let count = |n: u64, field: &'static str| {
            usize::try_from(n).map_err(|_| ProtoError::OutOfRange { message: "SplitReply", field })
        };
        let mut moved = std::collections::BTreeMap::new();
        for (owner, n) in reply.moved {
            moved.insert(owner, count(n, "moved")?);
        }
        Ok(SplitReport { moved, left: count(reply.left, "left")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        let rule = SplitRule {
            from: "lg-s1-shuanghe".into(),
            by_field: "grid".into(),
            to: [("grid-0".to_string(), "lg-s1-shuanghe-a".to_string())].into(),
            default_to: Some("lg-s1-shuanghe-b".into()),
        };
        assert_eq!(SplitRule::from(v1::SplitRequest::from(&rule)), rule);
        let without_default = SplitRule { default_to: None, ..rule };
        assert_eq!(SplitRule::from(v1::SplitRequest::from(&without_default)), without_default);
    }

    #[test]
    fn reports_round_trip() {
        let report = SplitReport {
            moved: [("lg-s1-shuanghe-a".to_string(), 4), ("lg-s1-shuanghe-b".to_string(), 3)].into(),
            left: 2,
        };
        assert_eq!(SplitReport::try_from(v1::SplitReply::from(&report)).unwrap(), report);
    }
}
