//! Byte layouts shared by every store: the in-memory one here and RocksDB's outside
//! core, so both read what the other would have written.

use super::LogEntry;
use crate::error::{Error, Result};
use crate::ids::{DocId, NodeId, RecordKey};
use crate::trace::{TRACES_PER_ENTRY_MAX, TraceContext};

pub const HLC_KEY: &[u8] = b"hlc";
/// The log's identity. Stored as `actor`: it was once also the store's Automerge
/// actor, which is now new at every start (see `replica::Replica::open`).
pub const LOG_ID_KEY: &[u8] = b"actor";

/// Runtime values ([`super::StoreBatch::meta`]) live under their own prefix, apart
/// from the engine's.
pub fn meta_key(name: &str) -> Vec<u8> {
    let mut key = b"m/".to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

pub fn chunk_key(doc: &DocId, seq: u64) -> Vec<u8> {
    let mut key = doc_prefix(doc);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `doc id` NUL: every chunk of `doc` starts with it, and no other document's does.
pub fn doc_prefix(doc: &DocId) -> Vec<u8> {
    let mut key = doc.to_string().into_bytes();
    key.push(0);
    key
}

pub fn chunk_seq(key: &[u8]) -> Result<u64> {
    let tail = key.len().checked_sub(8).ok_or_else(|| corrupt("chunk key", key, "shorter than 8 bytes"))?;
    Ok(u64::from_be_bytes(key[tail..].try_into().map_err(|_| corrupt("chunk key", key, "bad seq"))?))
}

pub fn local_key(record: &RecordKey, field: &str) -> Vec<u8> {
    let mut key = local_prefix(record);
    key.extend_from_slice(field.as_bytes());
    key
}

pub fn local_prefix(record: &RecordKey) -> Vec<u8> {
    let mut key = record.to_string().into_bytes();
    key.push(0);
    key
}

pub fn corrupt(what: &'static str, key: &[u8], reason: &str) -> Error {
    Error::Corrupt { what, key: String::from_utf8_lossy(key).into_owned(), reason: reason.into() }
}

/// Log entry value: doc id length (u16 LE), doc id, origin length (u16 LE, 0 for a
/// local entry), origin, then each change as length (u32 LE) and bytes.
///
/// An entry that carries trace contexts starts with [`TRACED_LOG_MARK`], a version
/// byte (1), the number of contexts (u8) and each context (trace id, span id, flags:
/// 25 bytes), then the layout above. No untraced entry starts with the mark (a doc id
/// is far shorter than 0xFFFF bytes), so entries written before traces existed read
/// as they are, and an untraced entry is stored byte for byte as before.
pub fn encode_log(entry: &LogEntry) -> Vec<u8> {
    let doc = entry.doc.to_string();
    let origin = entry.origin.as_ref().map(|o| o.as_str()).unwrap_or("");
    let traces = entry.traces.iter().take(TRACES_PER_ENTRY_MAX);
    let traced = if entry.traces.is_empty() { 0 } else { 4 + traces.len() * TraceContext::ENCODED_LEN };
    let size = traced + 4 + doc.len() + origin.len() + entry.changes.iter().map(|c| 4 + c.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    if !entry.traces.is_empty() {
        out.extend_from_slice(&TRACED_LOG_MARK);
        out.push(TRACED_LOG_VERSION);
        out.push(traces.len() as u8);
        for trace in traces {
            trace.encode(&mut out);
        }
    }
    out.extend_from_slice(&(doc.len() as u16).to_le_bytes());
    out.extend_from_slice(doc.as_bytes());
    out.extend_from_slice(&(origin.len() as u16).to_le_bytes());
    out.extend_from_slice(origin.as_bytes());
    for change in &entry.changes {
        out.extend_from_slice(&(change.len() as u32).to_le_bytes());
        out.extend_from_slice(change);
    }
    out
}

/// The first two bytes of a log entry that carries trace contexts (see [`encode_log`]).
pub const TRACED_LOG_MARK: [u8; 2] = [0xFF, 0xFF];
const TRACED_LOG_VERSION: u8 = 1;

/// Checks that entries read after `after` start right after it: sequence numbers are
/// dense, so a first entry further on means the log was trimmed past `after` and the
/// reader would skip entries without knowing it.
pub fn check_dense(after: u64, entries: &[LogEntry]) -> Result<()> {
    match entries.first() {
        Some(first) if first.seq != after.saturating_add(1) => {
            Err(crate::error::Error::LogTrimmed { after, first: first.seq })
        }
        _ => Ok(()),
    }
}

pub fn decode_log(seq: u64, bytes: &[u8]) -> Result<LogEntry> {
    let key = seq.to_be_bytes();
    let bad = |reason| corrupt("log entry", &key, reason);
    let take = |bytes: &mut &[u8], n: usize| -> Result<Vec<u8>> {
        if bytes.len() < n {
            return Err(bad("truncated"));
        }
        let (head, tail) = bytes.split_at(n);
        *bytes = tail;
        Ok(head.to_vec())
    };
    let mut rest = bytes;
    let mut traces = Vec::new();
    if rest.starts_with(&TRACED_LOG_MARK) {
        let head = take(&mut rest, 4)?;
        if head[2] != TRACED_LOG_VERSION {
            return Err(bad("traced entry of an unknown version"));
        }
        for _ in 0..head[3] {
            let context = take(&mut rest, TraceContext::ENCODED_LEN)?;
            traces.push(TraceContext::decode(&context).map_err(|_| bad("invalid trace context"))?);
        }
    }
    let doc_len = u16::from_le_bytes(take(&mut rest, 2)?.try_into().map_err(|_| bad("truncated"))?) as usize;
    let doc = String::from_utf8(take(&mut rest, doc_len)?).map_err(|_| bad("doc id not UTF-8"))?;
    let doc = DocId::parse(&doc)?;
    let origin_len = u16::from_le_bytes(take(&mut rest, 2)?.try_into().map_err(|_| bad("truncated"))?) as usize;
    let origin = String::from_utf8(take(&mut rest, origin_len)?).map_err(|_| bad("origin not UTF-8"))?;
    let origin = if origin.is_empty() { None } else { Some(NodeId::new(&origin)?) };
    let mut changes = Vec::new();
    while !rest.is_empty() {
        let len = u32::from_le_bytes(take(&mut rest, 4)?.try_into().map_err(|_| bad("truncated"))?) as usize;
        changes.push(take(&mut rest, len)?);
    }
    Ok(LogEntry { seq, doc, origin, changes, traces })
}

pub fn concat(changes: &[Vec<u8>]) -> Vec<u8> {
    changes.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entries_round_trip_and_truncation_is_caught() {
        let entry = LogEntry {
            seq: 9,
            doc: DocId::parse("c/requests/2026-11").unwrap(),
            origin: Some(NodeId::new("street").unwrap()),
            changes: vec![vec![1, 2], vec![3]],
            traces: Vec::new(),
        };
        let bytes = encode_log(&entry);
        assert_eq!(decode_log(9, &bytes).unwrap(), entry);
        let err = decode_log(9, &bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn traced_entries_round_trip_and_untraced_ones_keep_their_old_bytes() {
        let untraced = LogEntry {
            seq: 4,
            doc: DocId::parse("c/requests/2026-11").unwrap(),
            origin: None,
            changes: vec![vec![5; 3]],
            traces: Vec::new(),
        };
        // The layout entries had before traces: what stores written then hold.
        let mut before = vec![18, 0];
        before.extend_from_slice(b"c/requests/2026-11");
        before.extend_from_slice(&[0, 0, 3, 0, 0, 0, 5, 5, 5]);
        assert_eq!(encode_log(&untraced), before);
        assert_eq!(decode_log(4, &before).unwrap(), untraced);

        let trace = |i: u8| TraceContext { trace_id: [i; 16], span_id: [i; 8], flags: 1 };
        let traced = LogEntry { traces: vec![trace(1), trace(2)], ..untraced };
        let bytes = encode_log(&traced);
        assert!(bytes.starts_with(&TRACED_LOG_MARK));
        assert_eq!(decode_log(4, &bytes).unwrap(), traced);
        let err = decode_log(4, &bytes[..20]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        let mut zeroed = bytes.clone();
        zeroed[4..20].fill(0);
        let err = decode_log(4, &zeroed).unwrap_err().to_string();
        assert!(err.contains("invalid trace context"), "{err}");
    }
}
