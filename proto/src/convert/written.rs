//! `WriteReply` <-> `linli_core::replica::Written`.

use crate::ProtoError;
use crate::v1;
use linli_core::hlc::Hlc;
use linli_core::ids::RecordKey;
use linli_core::replica::Written;

impl From<&Written> for v1::WriteReply {
    fn from(written: &Written) -> Self {
        v1::WriteReply { record_key: written.key.to_string(), seq: written.seq, hlc: written.at.0 }
    }
}

impl TryFrom<v1::WriteReply> for Written {
    type Error = ProtoError;

    fn try_from(reply: v1::WriteReply) -> Result<Self, ProtoError> {
        let key = RecordKey::parse(&reply.record_key)
            .map_err(|source| ProtoError::Core { message: "WriteReply", source: Box::new(source) })?;
        Ok(Written { key, seq: reply.seq, at: Hlc(reply.hlc) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_round_trip() {
        let written = Written {
            key: RecordKey::parse("lg-pingdi-pingdi/requests/2026-11/r9.lg-pingdi-pingdi").unwrap(),
            seq: Some(12),
            at: Hlc::from_parts(1_795_320_000_000, 3),
        };
        assert_eq!(Written::try_from(v1::WriteReply::from(&written)).unwrap(), written);
        let local_only = Written { seq: None, ..written };
        assert_eq!(Written::try_from(v1::WriteReply::from(&local_only)).unwrap(), local_only);
    }
}
