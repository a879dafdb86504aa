//! Byte layouts shared by every store: the in-memory one here and RocksDB's outside
//! core, so both read what the other would have written.

use super::LogEntry;
use crate::error::{Error, Result};
use crate::ids::{DocId, NodeId, RecordKey};

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
pub fn encode_log(entry: &LogEntry) -> Vec<u8> {
    let doc = entry.doc.to_string();
    let origin = entry.origin.as_ref().map(|o| o.as_str()).unwrap_or("");
    let size = 4 + doc.len() + origin.len() + entry.changes.iter().map(|c| 4 + c.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
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
    Ok(LogEntry { seq, doc, origin, changes })
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
        };
        let bytes = encode_log(&entry);
        assert_eq!(decode_log(9, &bytes).unwrap(), entry);
        let err = decode_log(9, &bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
