//! linli-store-rocks: the RocksDB store of community nodes and coordinators.
//!
//! It lives apart from `linli-core` so that the core, the wire protocol and the
//! operators' command line build without RocksDB's C++; only the runtime that keeps a
//! replica on disk (`linli-node`) depends on it.
//!
//! One column family per purpose (see the table in `linli_core::store`), with the byte
//! layouts of `linli_core::store::codec`, the same as the in-memory store's. Every
//! commit is one `WriteBatch` written with `sync = true`: acknowledged means in the WAL
//! and synced. Group commit happens one level up: the runtime folds the writes that
//! arrive together into one batch, so they share one sync.

mod error;

pub use error::RocksError;

use error::failed;
use linli_core::error::{Error, Result};
use linli_core::hlc::Hlc;
use linli_core::ids::{DocId, RecordKey};
use linli_core::store::codec::{self, HLC_KEY, LOG_ID_KEY, chunk_key, doc_prefix};
use linli_core::store::{LogEntry, Storage, StoreBatch, StoredDoc};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options, WriteBatch, WriteOptions};
use std::path::Path;
use std::sync::Arc;

const CHUNKS: &str = "chunks";
const SNAPSHOTS: &str = "snapshots";
const DOCS: &str = "docs";
const LOG: &str = "log";
const VIEWS: &str = "views";
const LOCAL: &str = "local";
const META: &str = "meta";
/// A key and its value, as RocksDB returns them.
type Entry = (Box<[u8]>, Box<[u8]>);

const FAMILIES: [&str; 7] = [CHUNKS, SNAPSHOTS, DOCS, LOG, VIEWS, LOCAL, META];

/// Bytes of the files in a store's directory, or in a checkpoint of it (both are
/// flat); 0 where it cannot be read.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.filter_map(|entry| entry.ok()?.metadata().ok()).filter(|meta| meta.is_file()).map(|meta| meta.len()).sum()
}

/// What one store may hold in memory, besides the node's document cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreMemory {
    /// Write buffers of all column families together; past it RocksDB flushes the
    /// largest. Default 16 MiB.
    pub memtable_bytes_max: usize,
    /// Uncompressed blocks kept for reads, the tables' index and filter blocks among
    /// them. Default 8 MiB.
    pub block_cache_bytes: usize,
}

impl Default for StoreMemory {
    fn default() -> Self {
        Self { memtable_bytes_max: 16 * 1024 * 1024, block_cache_bytes: 8 * 1024 * 1024 }
    }
}

/// Cloning gives another handle on the same database (RocksDB is thread-safe): the
/// node's engine reads through one while its committer thread writes through another.
#[derive(Clone)]
pub struct RocksStore {
    db: Arc<DB>,
    sync: Arc<WriteOptions>,
}

impl RocksStore {
    /// Opens the store at `path`, creating it and its column families if missing,
    /// within [`StoreMemory::default`].
    pub fn open(path: &Path) -> Result<Self, RocksError> {
        Self::open_with(path, StoreMemory::default())
    }

    /// Opens the store at `path` within `memory`.
    pub fn open_with(path: &Path, memory: StoreMemory) -> Result<Self, RocksError> {
        // Bounded memory: the write buffers of every family together stay within
        // `memtable_bytes_max` (RocksDB flushes the largest when they pass it; without
        // this bound a family with few writes held its buffers for hours and a node's
        // buffers grew towards families x 3 x 8 MiB), and reads cache at most
        // `block_cache_bytes` of blocks, index and filter blocks included. The node
        // keeps its own document cache.
        let mut family = Options::default();
        family.set_write_buffer_size(memory.memtable_bytes_max.div_ceil(2).min(8 * 1024 * 1024));
        family.set_max_write_buffer_number(3);
        family.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cache = rocksdb::Cache::new_lru_cache(memory.block_cache_bytes);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&cache);
        // Index and filter blocks in the block cache too, not held beside it for every
        // open table file: those grow with the data on disk, without a bound. The
        // first level's stay pinned, as they are read on every lookup.
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        family.set_block_based_table_factory(&table);
        let mut options = family.clone();
        options.set_db_write_buffer_size(memory.memtable_bytes_max);
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // A WAL file is kept until every family that wrote to it has flushed; a family
        // with few writes (meta, local) would otherwise keep every WAL alive and the
        // disk would grow without bound. Past this total, RocksDB flushes the laggards.
        options.set_max_total_wal_size(64 * 1024 * 1024);
        let families = FAMILIES.iter().map(|name| ColumnFamilyDescriptor::new(*name, family.clone()));
        let db = DB::open_cf_descriptors(&options, path, families)
            .map_err(|source| RocksError::Open { path: path.to_path_buf(), source })?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(Self { db: Arc::new(db), sync: Arc::new(sync) })
    }

    /// Writes a consistent copy of the store, as of now, into `dir`, which must not
    /// exist yet (RocksDB's checkpoint: files hard-linked where `dir` is on the same
    /// file system, copied otherwise, and the write-ahead log flushed first). Safe
    /// while the engine writes: every batch is in the copy whole or not at all.
    pub fn checkpoint(&self, dir: &Path) -> Result<(), RocksError> {
        let failed = |source| RocksError::Checkpoint { path: dir.to_path_buf(), source };
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(failed)?;
        checkpoint.create_checkpoint(dir).map_err(failed)
    }

    /// Bytes of every family's write buffers (what is not flushed yet): at most
    /// about [`StoreMemory::memtable_bytes_max`].
    pub fn memtable_bytes(&self) -> u64 {
        FAMILIES
            .iter()
            .filter_map(|name| self.db.cf_handle(name))
            .filter_map(|cf| self.db.property_int_value_cf(cf, "rocksdb.cur-size-all-mem-tables").ok().flatten())
            .sum()
    }

    /// Bytes of memory RocksDB holds for the store: every family's write buffers, the
    /// block cache's blocks (index and filter blocks included, the cache being shared
    /// by the families) and what open table files keep outside the cache. 0 where
    /// RocksDB cannot say.
    pub fn memory_bytes(&self) -> u64 {
        let families: Vec<_> = FAMILIES.iter().filter_map(|name| self.db.cf_handle(name)).collect();
        let table_readers: u64 = families
            .iter()
            .filter_map(|cf| self.db.property_int_value_cf(cf, "rocksdb.estimate-table-readers-mem").ok().flatten())
            .sum();
        let block_cache = families
            .first()
            .and_then(|cf| self.db.property_int_value_cf(cf, "rocksdb.block-cache-usage").ok().flatten())
            .unwrap_or(0);
        self.memtable_bytes() + table_readers + block_cache
    }

    /// Bytes the change log takes: its SST files on disk and its write buffers (what
    /// is not flushed yet). 0 where RocksDB cannot say.
    pub fn log_bytes(&self) -> u64 {
        let Ok(cf) = self.cf(LOG) else { return 0 };
        ["rocksdb.total-sst-files-size", "rocksdb.cur-size-all-mem-tables"]
            .iter()
            .filter_map(|property| self.db.property_int_value_cf(cf, *property).ok().flatten())
            .sum()
    }

    /// Bytes of every file in the store's directory (SST files, WAL, manifest): what
    /// the node takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(self.db.path())
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| Error::Corrupt {
            what: "column family",
            key: name.into(),
            reason: "missing after open".into(),
        })
    }

    fn scan_prefix(&self, cf: &'static str, prefix: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(cf)?, IteratorMode::From(prefix, Direction::Forward)) {
            let (key, value) = item.map_err(failed("scanning a prefix"))?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key, value));
        }
        Ok(out)
    }
}

impl Storage for RocksStore {
    fn commit(&mut self, batch: &StoreBatch) -> Result<()> {
        let mut wb = WriteBatch::default();
        for entry in &batch.log {
            wb.put_cf(self.cf(CHUNKS)?, chunk_key(&entry.doc, entry.seq), codec::concat(&entry.changes));
            wb.put_cf(self.cf(LOG)?, entry.seq.to_be_bytes(), codec::encode_log(entry));
            wb.put_cf(self.cf(DOCS)?, entry.doc.to_string(), []);
        }
        for snap in &batch.snapshots {
            let mut value = snap.through_seq.to_be_bytes().to_vec();
            value.extend_from_slice(&snap.bytes);
            wb.put_cf(self.cf(SNAPSHOTS)?, snap.doc.to_string(), value);
            wb.delete_range_cf(self.cf(CHUNKS)?, chunk_key(&snap.doc, 0), chunk_key(&snap.doc, snap.through_seq + 1));
            wb.put_cf(self.cf(DOCS)?, snap.doc.to_string(), []);
        }
        for write in &batch.views {
            match &write.value {
                Some(value) => wb.put_cf(self.cf(VIEWS)?, &write.key, value),
                None => wb.delete_cf(self.cf(VIEWS)?, &write.key),
            }
        }
        for (record, field, value) in &batch.local {
            wb.put_cf(self.cf(LOCAL)?, codec::local_key(record, field), value.to_string());
        }
        if let Some(hlc) = batch.hlc {
            wb.put_cf(self.cf(META)?, HLC_KEY, hlc.0.to_be_bytes());
        }
        if let Some(log_id) = &batch.log_id {
            wb.put_cf(self.cf(META)?, LOG_ID_KEY, log_id.as_bytes());
        }
        for (name, value) in &batch.meta {
            wb.put_cf(self.cf(META)?, codec::meta_key(name), value);
        }
        for name in &batch.meta_deleted {
            wb.delete_cf(self.cf(META)?, codec::meta_key(name));
        }
        if let Some(through) = batch.log_trim_through {
            // Never the last entry: it keeps the log's end across a restart.
            let last = batch.log.iter().map(|entry| entry.seq).max().unwrap_or(0).max(self.log_last_seq()?);
            let through = through.min(last.saturating_sub(1));
            if through > 0 {
                wb.delete_range_cf(self.cf(LOG)?, 0u64.to_be_bytes(), through.saturating_add(1).to_be_bytes());
            }
        }
        for doc in &batch.forget {
            wb.delete_range_cf(self.cf(CHUNKS)?, chunk_key(doc, 0), chunk_key(doc, u64::MAX));
            wb.delete_cf(self.cf(CHUNKS)?, chunk_key(doc, u64::MAX));
            wb.delete_cf(self.cf(SNAPSHOTS)?, doc.to_string());
            wb.delete_cf(self.cf(DOCS)?, doc.to_string());
        }
        self.db.write_opt(wb, &self.sync).map_err(failed("committing a batch"))?;
        Ok(())
    }

    fn load_doc(&self, doc: &DocId) -> Result<Option<StoredDoc>> {
        if self
            .db
            .get_pinned_cf(self.cf(DOCS)?, doc.to_string())
            .map_err(failed("reading a document's entry"))?
            .is_none()
        {
            return Ok(None);
        }
        let snapshot =
            match self.db.get_cf(self.cf(SNAPSHOTS)?, doc.to_string()).map_err(failed("reading a snapshot"))? {
                Some(value) if value.len() >= 8 => {
                    let (seq, bytes) = value.split_at(8);
                    let seq =
                        u64::from_be_bytes(seq.try_into().map_err(|_| codec::corrupt("snapshot", &value, "bad seq"))?);
                    Some((seq, bytes.to_vec()))
                }
                Some(value) => return Err(codec::corrupt("snapshot", &value, "shorter than 8 bytes")),
                None => None,
            };
        let mut chunks = Vec::new();
        for (key, value) in self.scan_prefix(CHUNKS, &doc_prefix(doc))? {
            chunks.push((codec::chunk_seq(&key)?, value.into_vec()));
        }
        Ok(Some(StoredDoc { snapshot, chunks }))
    }

    fn doc_ids(&self) -> Result<Vec<DocId>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(DOCS)?, IteratorMode::Start) {
            let (key, _) = item.map_err(failed("listing the documents"))?;
            let text = std::str::from_utf8(&key).map_err(|_| codec::corrupt("doc id", &key, "not UTF-8"))?;
            out.push(DocId::parse(text)?);
        }
        Ok(out)
    }

    fn view_entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(VIEWS)?, IteratorMode::Start) {
            let (key, value) = item.map_err(failed("reading the views"))?;
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }

    fn log_after(&self, after: u64, max: usize) -> Result<Vec<LogEntry>> {
        let from = after.saturating_add(1).to_be_bytes();
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(LOG)?, IteratorMode::From(&from, Direction::Forward)).take(max) {
            let (key, value) = item.map_err(failed("reading the log"))?;
            let seq =
                u64::from_be_bytes((*key).try_into().map_err(|_| codec::corrupt("log key", &key, "not 8 bytes"))?);
            out.push(codec::decode_log(seq, &value)?);
        }
        codec::check_dense(after, &out)?;
        Ok(out)
    }

    fn log_first_seq(&self) -> Result<u64> {
        match self.db.iterator_cf(self.cf(LOG)?, IteratorMode::Start).next() {
            Some(item) => {
                let (key, _) = item.map_err(failed("reading the log's start"))?;
                Ok(u64::from_be_bytes((*key).try_into().map_err(|_| codec::corrupt("log key", &key, "not 8 bytes"))?))
            }
            None => Ok(0),
        }
    }

    fn log_last_seq(&self) -> Result<u64> {
        match self.db.iterator_cf(self.cf(LOG)?, IteratorMode::End).next() {
            Some(item) => {
                let (key, _) = item.map_err(failed("reading the log's end"))?;
                Ok(u64::from_be_bytes((*key).try_into().map_err(|_| codec::corrupt("log key", &key, "not 8 bytes"))?))
            }
            None => Ok(0),
        }
    }

    fn local_fields(&self, key: &RecordKey) -> Result<Vec<(String, serde_json::Value)>> {
        let prefix = codec::local_prefix(key);
        let mut out = Vec::new();
        for (k, v) in self.scan_prefix(LOCAL, &prefix)? {
            let value = serde_json::from_slice(&v).map_err(|e| codec::corrupt("local field", &k, &e.to_string()))?;
            out.push((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), value));
        }
        Ok(out)
    }

    fn hlc(&self) -> Result<Hlc> {
        match self.db.get_cf(self.cf(META)?, HLC_KEY).map_err(failed("reading the clock"))? {
            Some(bytes) => Ok(Hlc(u64::from_be_bytes(
                bytes.as_slice().try_into().map_err(|_| codec::corrupt("hlc", HLC_KEY, "not 8 bytes"))?,
            ))),
            None => Ok(Hlc::default()),
        }
    }

    fn log_id(&self) -> Result<Option<String>> {
        match self.db.get_cf(self.cf(META)?, LOG_ID_KEY).map_err(failed("reading the log's identity"))? {
            Some(bytes) => {
                Ok(Some(String::from_utf8(bytes).map_err(|_| codec::corrupt("log identity", LOG_ID_KEY, "not UTF-8"))?))
            }
            None => Ok(None),
        }
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get_cf(self.cf(META)?, codec::meta_key(name)).map_err(failed("reading a runtime value"))?)
    }
}
