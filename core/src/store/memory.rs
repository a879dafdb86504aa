//! The in-memory store of the simulator and tests: the same layout as RocksDB's, in
//! ordered maps. "Durable" means surviving the engine, not the process: a simulated
//! crash drops the engine and keeps the store.

use super::codec::{self, chunk_key, doc_prefix};
use super::{LogEntry, Storage, StoreBatch, StoredDoc};
use crate::error::Result;
use crate::hlc::Hlc;
use crate::ids::{DocId, RecordKey};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    chunks: BTreeMap<Vec<u8>, Vec<u8>>,
    snapshots: BTreeMap<DocId, (u64, Vec<u8>)>,
    docs: BTreeSet<DocId>,
    log: BTreeMap<u64, Vec<u8>>,
    views: BTreeMap<Vec<u8>, Vec<u8>>,
    local: BTreeMap<Vec<u8>, serde_json::Value>,
    hlc: Hlc,
    log_id: Option<String>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Storage for MemoryStore {
    fn commit(&mut self, batch: &StoreBatch) -> Result<()> {
        for entry in &batch.log {
            self.chunks.insert(chunk_key(&entry.doc, entry.seq), codec::concat(&entry.changes));
            self.log.insert(entry.seq, codec::encode_log(entry));
            self.docs.insert(entry.doc.clone());
        }
        for snap in &batch.snapshots {
            let from = chunk_key(&snap.doc, 0);
            let to = chunk_key(&snap.doc, snap.through_seq);
            let covered: Vec<_> = self.chunks.range(from..=to).map(|(k, _)| k.clone()).collect();
            for key in covered {
                self.chunks.remove(&key);
            }
            self.snapshots.insert(snap.doc.clone(), (snap.through_seq, snap.bytes.clone()));
            self.docs.insert(snap.doc.clone());
        }
        for write in &batch.views {
            match &write.value {
                Some(value) => self.views.insert(write.key.clone(), value.clone()),
                None => self.views.remove(&write.key),
            };
        }
        for (record, field, value) in &batch.local {
            self.local.insert(codec::local_key(record, field), value.clone());
        }
        if let Some(hlc) = batch.hlc {
            self.hlc = self.hlc.max(hlc);
        }
        if let Some(log_id) = &batch.log_id {
            self.log_id = Some(log_id.clone());
        }
        for (name, value) in &batch.meta {
            self.meta.insert(name.clone(), value.clone());
        }
        for name in &batch.meta_deleted {
            self.meta.remove(name);
        }
        if let Some(through) = batch.log_trim_through {
            // Never the last entry: it keeps the log's end.
            let last = self.log.keys().next_back().copied().unwrap_or(0);
            self.log.retain(|seq, _| *seq > through || *seq == last);
        }
        for doc in &batch.forget {
            let prefix = doc_prefix(doc);
            self.chunks.retain(|key, _| !key.starts_with(&prefix));
            self.snapshots.remove(doc);
            self.docs.remove(doc);
        }
        Ok(())
    }

    fn load_doc(&self, doc: &DocId) -> Result<Option<StoredDoc>> {
        if !self.docs.contains(doc) {
            return Ok(None);
        }
        let snapshot = self.snapshots.get(doc).cloned();
        let prefix = doc_prefix(doc);
        let mut chunks = Vec::new();
        for (key, value) in self.chunks.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            chunks.push((codec::chunk_seq(key)?, value.clone()));
        }
        Ok(Some(StoredDoc { snapshot, chunks }))
    }

    fn doc_ids(&self) -> Result<Vec<DocId>> {
        Ok(self.docs.iter().cloned().collect())
    }

    fn view_entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        Ok(self.views.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn log_after(&self, after: u64, max: usize) -> Result<Vec<LogEntry>> {
        let entries: Vec<LogEntry> = self
            .log
            .range(after.saturating_add(1)..)
            .take(max)
            .map(|(seq, bytes)| codec::decode_log(*seq, bytes))
            .collect::<Result<_>>()?;
        codec::check_dense(after, &entries)?;
        Ok(entries)
    }

    fn log_last_seq(&self) -> Result<u64> {
        Ok(self.log.keys().next_back().copied().unwrap_or(0))
    }

    fn log_first_seq(&self) -> Result<u64> {
        Ok(self.log.keys().next().copied().unwrap_or(0))
    }

    fn local_fields(&self, key: &RecordKey) -> Result<Vec<(String, serde_json::Value)>> {
        let prefix = codec::local_prefix(key);
        Ok(self
            .local
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), v.clone()))
            .collect())
    }

    fn hlc(&self) -> Result<Hlc> {
        Ok(self.hlc)
    }

    fn log_id(&self) -> Result<Option<String>> {
        Ok(self.log_id.clone())
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.get(name).cloned())
    }
}
