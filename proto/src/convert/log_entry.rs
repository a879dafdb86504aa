//! `v1::LogEntry` <-> `linli_core::store::LogEntry`: what replication ships.

use crate::ProtoError;
use crate::v1;
use linli_core::ids::DocId;
use linli_core::store::LogEntry;

impl From<&LogEntry> for v1::LogEntry {
    fn from(entry: &LogEntry) -> Self {
        v1::LogEntry { seq: entry.seq, doc: entry.doc.to_string(), changes: entry.changes.clone() }
    }
}

impl TryFrom<v1::LogEntry> for LogEntry {
    type Error = ProtoError;

    fn try_from(entry: v1::LogEntry) -> Result<Self, ProtoError> {
        let doc = DocId::parse(&entry.doc)
            .map_err(|source| ProtoError::Core { message: "LogEntry", source: Box::new(source) })?;
        // The receiver knows where it came from: the link's peer.
        Ok(LogEntry { seq: entry.seq, doc, origin: None, changes: entry.changes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_a_bad_doc_id_is_refused() {
        let entry = LogEntry {
            seq: 7,
            doc: DocId::parse("lg-pingdi-pingdi/requests/2026-11").unwrap(),
            origin: None,
            changes: vec![vec![1, 2, 3]],
        };
        assert_eq!(LogEntry::try_from(v1::LogEntry::from(&entry)).unwrap(), entry);
        let bad = v1::LogEntry { seq: 1, doc: "lg-pingdi-pingdi/requests".into(), changes: vec![] };
        let err = LogEntry::try_from(bad).unwrap_err().to_string();
        assert!(err.starts_with("LogEntry: bad document id"), "{err}");
    }
}
