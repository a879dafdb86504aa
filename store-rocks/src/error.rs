//! The error type of `linli-store-rocks`.
//!
//! Opening the store fails with a [`RocksError`] of its own, so a node can say which
//! directory it could not open. Every other failure surfaces through core's `Storage`
//! trait as `linli_core::Error::Storage`, which keeps the operation and RocksDB's own
//! error as its source.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RocksError {
    /// The database could not be opened or created (a missing disk, a lock held by
    /// another process, files of another format).
    #[error("opening the RocksDB store at {}: {source}", path.display())]
    Open { path: PathBuf, source: rocksdb::Error },

    /// A read or a write of an open database failed; `op` says which.
    #[error("RocksDB, {op}: {source}")]
    Database { op: &'static str, source: rocksdb::Error },

    /// A checkpoint (an online backup) could not be written to `path`.
    #[error("writing a checkpoint of the store to {}: {source}", path.display())]
    Checkpoint { path: PathBuf, source: rocksdb::Error },
}

impl From<RocksError> for linli_core::Error {
    fn from(error: RocksError) -> Self {
        match error {
            RocksError::Open { path, source } => {
                linli_core::Error::Storage { op: format!("opening {}", path.display()), source: Box::new(source) }
            }
            RocksError::Database { op, source } => {
                linli_core::Error::Storage { op: op.into(), source: Box::new(source) }
            }
            RocksError::Checkpoint { path, source } => linli_core::Error::Storage {
                op: format!("writing a checkpoint to {}", path.display()),
                source: Box::new(source),
            },
        }
    }
}

/// Maps a RocksDB failure while doing `op`.
pub(crate) fn failed(op: &'static str) -> impl Fn(rocksdb::Error) -> RocksError {
    move |source| RocksError::Database { op, source }
}
