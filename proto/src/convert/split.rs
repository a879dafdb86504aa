//! `SplitReply` <-> `linli_core::replica::SplitReport`.

use crate::ProtoError;
use crate::v1;
use linli_core::replica::SplitReport;

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
    fn reports_round_trip() {
        let report = SplitReport {
            moved: [("lg-s1-shuanghe-a".to_string(), 4), ("lg-s1-shuanghe-b".to_string(), 3)].into(),
            left: 2,
        };
        assert_eq!(SplitReport::try_from(v1::SplitReply::from(&report)).unwrap(), report);
    }
}
