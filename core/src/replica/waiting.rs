//! Peers' changes that wait for their dependencies, kept durable and bounded.
//!
//! Automerge takes a change whose dependencies it does not hold yet into a queue, in
//! memory, and applies it once they arrive. A link's checkpoint that passed such a
//! change while it sat only in memory would lose it in a crash; one held back for it
//! froze the link (and every other link's, as it was once done). So each waiting
//! change is also written under `waiting/<doc>` in the batch that received it, and
//! the checkpoint moves on: the change is durable, the `Ack` tells the truth, and a
//! document that holds waiting changes may leave the cache (they queue again when it
//! loads). The batch that lets them apply deletes the entry. The session that brought
//! them syncs the document with the peer, which holds every dependency of what it
//! sent (see [`super::Effect::Applied`]).
//!
//! Bound: [`WAITING_BYTES_MAX`] per document. Changes that would pass it are refused
//! ([`crate::Error::WaitingFull`], a `Refusal`): they stay at the peer, and the sync
//! that follows brings them with their dependencies.

use crate::doc::RegistryDoc;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::store::Storage;
use automerge::Change;
use std::collections::{BTreeSet, HashSet};

/// The meta key listing the documents that have a `waiting/<doc>` entry.
pub const INDEX_META: &str = "waiting";

/// Bytes of changes one document may hold waiting for their dependencies.
pub const WAITING_BYTES_MAX: usize = 1 << 20;

/// The meta key of a document's waiting changes.
pub fn meta_name(doc: &DocId) -> String {
    format!("waiting/{doc}")
}

/// Length-prefixed changes: `u32` count, then per change a `u32` length and its bytes
/// (little endian).
pub fn encode(changes: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = changes.iter().map(|c| c.len() + 4).sum();
    let mut out = Vec::with_capacity(4 + total);
    out.extend_from_slice(&(changes.len() as u32).to_le_bytes());
    for change in changes {
        out.extend_from_slice(&(change.len() as u32).to_le_bytes());
        out.extend_from_slice(change);
    }
    out
}

pub fn decode(doc: &DocId, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let corrupt = |reason: &str| Error::Corrupt { what: "waiting changes", key: meta_name(doc), reason: reason.into() };
    let mut rest = bytes;
    let mut take = |n: usize| -> Result<&[u8]> {
        if rest.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let count = word(take(4)?);
    if count > WAITING_BYTES_MAX {
        return Err(corrupt("more changes than the bound allows"));
    }
    let mut changes = Vec::with_capacity(count);
    for _ in 0..count {
        let len = word(take(4)?);
        changes.push(take(len)?.to_vec());
    }
    if !rest.is_empty() {
        return Err(corrupt("bytes after the last change"));
    }
    Ok(changes)
}

/// The list of documents with waiting changes, as kept under [`INDEX_META`]: ids
/// separated by newlines.
pub fn encode_index(docs: &BTreeSet<DocId>) -> Vec<u8> {
    docs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n").into_bytes()
}

pub fn decode_index(bytes: &[u8]) -> Result<BTreeSet<DocId>> {
    let corrupt = |reason: String| Error::Corrupt { what: "waiting index", key: INDEX_META.into(), reason };
    let text = std::str::from_utf8(bytes).map_err(|e| corrupt(e.to_string()))?;
    text.lines().filter(|l| !l.is_empty()).map(|l| DocId::parse(l).map_err(|e| corrupt(e.to_string()))).collect()
}

/// Reads a document's waiting changes from the store and queues them in `doc` again
/// (it was just loaded, so Automerge's queue is empty).
pub fn requeue(store: &dyn Storage, doc: &mut RegistryDoc) -> Result<Vec<Vec<u8>>> {
    let id = doc.id().clone();
    let Some(bytes) = store.meta(&meta_name(&id))? else { return Ok(Vec::new()) };
    let changes = decode(&id, &bytes)?;
    // Their dependencies were missing when they were stored, and the batch that brings
    // them deletes this entry: nothing applies here, they only queue.
    let applied = doc.apply_remote(&changes, i64::MAX, &Default::default())?;
    if !applied.changes.is_empty() {
        tracing::warn!(doc = %id, changes = applied.changes.len(), "waiting changes applied at load");
    }
    Ok(changes)
}

/// Of `earlier` (what waited before) and `incoming` (what just arrived), the changes
/// `doc` does not hold after the merge, each once, in arrival order.
pub fn still_waiting(doc: &mut RegistryDoc, earlier: &[Vec<u8>], incoming: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut still = Vec::new();
    for bytes in earlier.iter().chain(incoming) {
        // Undecodable bytes never reach here: the merge refused them first.
        let Ok(change) = Change::from_bytes(bytes.clone()) else { continue };
        let hash = change.hash();
        if seen.insert(hash) && !doc.holds(&hash) {
            still.push(bytes.clone());
        }
    }
    still
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_and_damage_is_named() {
        let doc = DocId::parse("lg-a/requests/2026-11").unwrap();
        let changes = vec![b"one".to_vec(), Vec::new(), b"three".to_vec()];
        let bytes = encode(&changes);
        assert_eq!(decode(&doc, &bytes).unwrap(), changes);
        let torn = decode(&doc, &bytes[..bytes.len() - 1]).unwrap_err().to_string();
        assert!(torn.contains("waiting/lg-a/requests/2026-11") && torn.contains("truncated"), "{torn}");
    }
}
