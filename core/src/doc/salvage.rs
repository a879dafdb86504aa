//! Loading what can be loaded of a document whose stored bytes Automerge cannot read
//! (a torn write, a bad sector, a foreign tool): the replica quarantines it with this
//! instead of failing every later use of it.
//!
//! What is kept, and why: the snapshot if it loads, else the genesis; then every
//! chunk in order that loads, from its own bytes or, failing those, from the log entry
//! of the same seq (every change is stored twice until compaction, and a bad sector
//! rarely takes both copies). A chunk neither copy of which loads is lost here; the
//! changes of later chunks that depend on it wait in Automerge's queue, and the caller
//! keeps them durable as waiting changes, so the repair from a peer releases them.
//! Keeping only the genesis would be simpler, but it would drop this node's own
//! changes that no peer holds yet (a community's writes not shipped up): the log
//! ships them later, but never back to this node.

use super::{RegistryDoc, genesis_bytes};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::schema::Schema;
use automerge::{AutoCommit, Change};
use std::sync::Arc;

/// One stored chunk of a document and the second copy of its changes, if the log
/// entry of the same seq still reads.
pub struct StoredChunk<'a> {
    pub seq: u64,
    pub bytes: &'a [u8],
    pub log_copy: Option<&'a [Vec<u8>]>,
}

/// What [`RegistryDoc::salvage`] loaded and what it could not.
pub struct Salvaged {
    pub doc: RegistryDoc,
    /// The snapshot did not load: the document starts from the genesis.
    pub snapshot_lost: bool,
    /// Chunks that loaded from neither copy, by seq.
    pub chunks_lost: Vec<u64>,
    /// Chunks whose own bytes failed and whose log entry loaded instead, by seq.
    pub from_log: Vec<u64>,
}

impl RegistryDoc {
    /// Loads what can be loaded of a document (see the module's docs). Fails only if
    /// not even the genesis loads, which no stored byte can cause.
    pub fn salvage(
        id: DocId,
        schema: Arc<Schema>,
        actor: &str,
        snapshot: Option<&[u8]>,
        chunks: &[StoredChunk<'_>],
    ) -> Result<Salvaged> {
        let am_err = |source| Error::Automerge { doc: id.to_string(), source: Box::new(source) };
        let from_snapshot = snapshot.and_then(|bytes| {
            // A snapshot that loads but lacks the records list is as unusable.
            let am = AutoCommit::load(bytes).ok()?;
            Self::from_automerge(id.clone(), schema.clone(), actor, am.clone()).ok().map(|_| am)
        });
        let snapshot_lost = snapshot.is_some() && from_snapshot.is_none();
        let mut am = match from_snapshot {
            Some(am) => am,
            None => AutoCommit::load(genesis_bytes()).map_err(am_err)?,
        };
        let (mut chunks_lost, mut from_log) = (Vec::new(), Vec::new());
        for chunk in chunks {
            if loads_alone(chunk.bytes) && am.load_incremental(chunk.bytes).is_ok() {
                continue;
            }
            let copy = chunk.log_copy.and_then(|changes| {
                changes.iter().map(|bytes| Change::from_bytes(bytes.clone()).ok()).collect::<Option<Vec<_>>>()
            });
            match copy.map(|changes| am.apply_changes(changes)) {
                Some(Ok(())) => from_log.push(chunk.seq),
                _ => chunks_lost.push(chunk.seq),
            }
        }
        let doc = Self::from_automerge(id, schema, actor, am)?;
        Ok(Salvaged { doc, snapshot_lost, chunks_lost, from_log })
    }
}

/// Whether a chunk's bytes read whole: loaded strictly after the genesis, where a
/// change whose dependencies are missing only waits, and bytes that do not parse or
/// fail their checksum fail the load.
fn loads_alone(chunk: &[u8]) -> bool {
    let genesis = genesis_bytes();
    let mut all = Vec::with_capacity(genesis.len() + chunk.len());
    all.extend_from_slice(genesis);
    all.extend_from_slice(chunk);
    AutoCommit::load(&all).is_ok()
}
