//! Backups and restores of a node's store, for the operator of a community server.
//!
//! A backup is taken online: `Registry.Backup` (`linlictl backup`) has RocksDB write a
//! checkpoint of the running store, consistent as of one moment (every engine batch is
//! in it whole or not at all), into the node's `backup_dir`. It stays on the node's
//! disk: it holds residents' personal fields, which never leave the community's server
//! over the network.
//!
//! A restore (`linli-node restore`) is made offline, into an empty data directory:
//! the checkpoint's files are copied, then the log takes a new identity. A backup
//! rewinds the store: entries the node wrote after it, which its street may hold, are
//! not in it, and the numbers after the backup's end will be reused for new writes.
//! With the old identity the street would take those for entries it already has, a
//! silent rewind. With a new one, the street finds its checkpoint names a log the node
//! no longer has and both ends repair (Automerge's sync on every shared document): the
//! writes the street holds come back, and nothing is skipped.

use crate::engine::EngineHandle;
use crate::error::NodeError;
use linli_core::store::{Storage, StoreBatch};
use linli_store_rocks::RocksStore;
use std::path::{Path, PathBuf};

/// Bytes a backup's label takes at most.
pub const LABEL_BYTES_MAX: usize = 64;

/// The named value a restore leaves in the store: when, from where, and which log it
/// renewed (JSON), for the operator.
pub const RESTORED_META: &str = "restored";

/// A backup written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupMade {
    pub path: PathBuf,
    /// The node's log end as the backup began: the backup holds at least this far.
    pub log_end: u64,
    pub bytes: u64,
}

/// A restore made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The log's identity in the backup, and the one it has now.
    pub old_log: String,
    pub new_log: String,
    /// The last log entry the backup holds.
    pub log_end: u64,
}

fn refused(what: &'static str, reason: String) -> NodeError {
    NodeError::Backup { what, reason }
}

/// A label is one plain directory name: no separator, no `..`, nothing hidden.
pub fn check_label(label: &str) -> Result<(), NodeError> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if label.is_empty() || label.len() > LABEL_BYTES_MAX || !label.chars().all(fine) || label.starts_with('.') {
        let reason = format!(
            "label `{}` must be 1 to {LABEL_BYTES_MAX} letters, digits, `-`, `_` or `.`, not starting with `.`",
            label.chars().take(80).collect::<String>()
        );
        return Err(refused("backup", reason));
    }
    Ok(())
}

/// Takes a backup of the running store into `backup_dir/label`.
pub async fn back_up(engine: &EngineHandle, backup_dir: &Path, label: &str) -> Result<BackupMade, NodeError> {
    check_label(label)?;
    let path = backup_dir.join(label);
    if path.exists() {
        return Err(refused("backup", format!("{} exists already: a backup is never overwritten", path.display())));
    }
    std::fs::create_dir_all(backup_dir)
        .map_err(|source| NodeError::Io { what: format!("creating {}", backup_dir.display()), source })?;
    let store = engine.store()?;
    let log_end = *engine.log_end().borrow();
    let target = path.clone();
    tokio::task::spawn_blocking(move || store.checkpoint(&target))
        .await
        .map_err(|e| refused("backup", format!("the checkpoint's task failed: {e}")))??;
    let bytes = linli_store_rocks::dir_bytes(&path);
    tracing::info!(path = %path.display(), log_end, bytes, "backup written");
    Ok(BackupMade { path, log_end, bytes })
}

/// Makes `data_dir` (missing or empty) a copy of the backup at `from`, under a new log
/// identity (see the module's docs). `now_ms` goes into the new identity.
pub fn restore(from: &Path, data_dir: &Path, now_ms: u64) -> Result<Restored, NodeError> {
    if !from.join("CURRENT").is_file() {
        let reason = format!("{} is not a backup of a linli store (no RocksDB `CURRENT` file)", from.display());
        return Err(refused("restore", reason));
    }
    let occupied = std::fs::read_dir(data_dir).map(|mut entries| entries.next().is_some()).unwrap_or(false);
    if occupied {
        let reason = format!(
            "the data directory {} is not empty: a restore never overwrites a store; move it away first",
            data_dir.display()
        );
        return Err(refused("restore", reason));
    }
    let io = |what: String| move |source| NodeError::Io { what, source };
    std::fs::create_dir_all(data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
    let entries = std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        if entry.file_type().map_err(io(format!("reading {}", entry.path().display())))?.is_file() {
            let to = data_dir.join(entry.file_name());
            std::fs::copy(entry.path(), &to).map_err(io(format!("copying to {}", to.display())))?;
        }
    }
    let mut store = RocksStore::open(data_dir)?;
    let old_log = store
        .log_id()?
        .ok_or_else(|| refused("restore", format!("the backup at {} has no log identity", from.display())))?;
    let new_log = format!("{old_log}.restored.{now_ms:x}");
    let log_end = store.log_last_seq()?;
    let note = serde_json::json!({ "from": from.display().to_string(), "at_ms": now_ms, "old_log": old_log });
    let batch = StoreBatch {
        log_id: Some(new_log.clone()),
        meta: vec![(RESTORED_META.to_string(), note.to_string().into_bytes())],
        ..StoreBatch::default()
    };
    store.commit(&batch)?;
    tracing::info!(from = %from.display(), data_dir = %data_dir.display(), %old_log, %new_log, log_end, "restored");
    Ok(Restored { old_log, new_log, log_end })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_plain_names() {
        for good in ["2026-12-05", "nightly_1", "a.b"] {
            assert!(check_label(good).is_ok(), "{good}");
        }
        for bad in ["", "../etc", "a/b", ".hidden", "空", &"x".repeat(65)] {
            let err = check_label(bad).expect_err(bad).to_string();
            assert!(err.starts_with("backup: label"), "{err}");
        }
    }

    #[test]
    fn a_restore_refuses_what_is_not_a_backup_and_a_store_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let err = restore(dir.path(), &dir.path().join("data"), 1).unwrap_err().to_string();
        assert!(err.contains("is not a backup of a linli store"), "{err}");
        let from = dir.path().join("from");
        RocksStore::open(&from).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("keep"), b"x").unwrap();
        let err = restore(&from, &data, 1).unwrap_err().to_string();
        assert!(err.contains("is not empty: a restore never overwrites a store"), "{err}");
    }
}
