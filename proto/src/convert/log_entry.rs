//! `v1::LogEntry` <-> `linli_core::store::LogEntry`: what replication ships.

use crate::ProtoError;
use crate::v1;
use linli_core::ids::DocId;
use linli_core::store::LogEntry;
use linli_core::trace::{TRACES_PER_ENTRY_MAX, TraceContext};

impl From<&LogEntry> for v1::LogEntry {
    fn from(entry: &LogEntry) -> Self {
        let traces = entry.traces.iter().map(v1::TraceContext::from).collect();
        v1::LogEntry { seq: entry.seq, doc: entry.doc.to_string(), changes: entry.changes.clone(), traces }
    }
}

impl TryFrom<v1::LogEntry> for LogEntry {
    type Error = ProtoError;

    fn try_from(entry: v1::LogEntry) -> Result<Self, ProtoError> {
        let doc = DocId::parse(&entry.doc)
            .map_err(|source| ProtoError::Core { message: "LogEntry", source: Box::new(source) })?;
        // Diagnostics only: a peer's invalid contexts, and those past the bound, are
        // dropped (as W3C trace context asks of an invalid `traceparent`) and its
        // changes kept. A tracing fault never stalls replication.
        let traces = entry
            .traces
            .into_iter()
            .filter_map(|t| TraceContext::try_from(t).ok())
            .take(TRACES_PER_ENTRY_MAX)
            .collect();
        // The receiver knows where it came from: the link's peer.
        Ok(LogEntry { seq: entry.seq, doc, origin: None, changes: entry.changes, traces })
    }
}

impl From<&TraceContext> for v1::TraceContext {
    fn from(trace: &TraceContext) -> Self {
        v1::TraceContext {
            trace_id: trace.trace_id.to_vec(),
            span_id: trace.span_id.to_vec(),
            flags: u32::from(trace.flags),
        }
    }
}

impl TryFrom<v1::TraceContext> for TraceContext {
    type Error = ProtoError;

    fn try_from(trace: v1::TraceContext) -> Result<Self, ProtoError> {
        TraceContext::new(&trace.trace_id, &trace.span_id, trace.flags).map_err(|e| ProtoError::Invalid {
            message: "LogEntry",
            field: "traces",
            reason: e.to_string(),
        })
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
            traces: vec![TraceContext { trace_id: [3; 16], span_id: [4; 8], flags: 1 }],
        };
        assert_eq!(LogEntry::try_from(v1::LogEntry::from(&entry)).unwrap(), entry);
        let bad = v1::LogEntry { seq: 1, doc: "lg-pingdi-pingdi/requests".into(), changes: vec![], traces: vec![] };
        let err = LogEntry::try_from(bad).unwrap_err().to_string();
        assert!(err.starts_with("LogEntry: bad document id"), "{err}");
    }

    #[test]
    fn a_peer_s_bad_or_extra_trace_contexts_are_dropped_and_its_changes_kept() {
        let mut wire = v1::LogEntry::from(&LogEntry {
            seq: 7,
            doc: DocId::parse("lg-pingdi-pingdi/requests/2026-11").unwrap(),
            origin: None,
            changes: vec![vec![1]],
            traces: Vec::new(),
        });
        let good = |n: u8| v1::TraceContext { trace_id: vec![n; 16], span_id: vec![n; 8], flags: 1 };
        let short = v1::TraceContext { trace_id: vec![1; 15], span_id: vec![1; 8], flags: 1 };
        let zero = v1::TraceContext { trace_id: vec![0; 16], span_id: vec![1; 8], flags: 1 };
        let wide = v1::TraceContext { flags: 256, ..good(9) };
        wire.traces = vec![short, good(1), zero, wide, good(2)];
        let entry = LogEntry::try_from(wire.clone()).expect("kept");
        assert_eq!(entry.changes, vec![vec![1]]);
        let ids: Vec<u8> = entry.traces.iter().map(|t| t.trace_id[0]).collect();
        assert_eq!(ids, vec![1, 2]);
        wire.traces = (1..=40).map(good).collect();
        assert_eq!(LogEntry::try_from(wire).expect("kept").traces.len(), TRACES_PER_ENTRY_MAX);
    }
}
