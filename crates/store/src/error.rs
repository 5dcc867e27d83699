use std::io;
use std::path::PathBuf;

use crate::digest::Digest;

/// Everything that can go wrong in the state root.
///
/// Messages are meant to be shown to users as-is: each names the object
/// (digest, path, database) and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid digest {input:?}: {reason} (expected \"sha256:\" followed by 64 lowercase hex characters)")]
    InvalidDigest { input: String, reason: &'static str },

    #[error("blob {digest} not found in the store (expected at {path}); pull the image again")]
    BlobNotFound { digest: Digest, path: PathBuf },

    #[error("content of {size} bytes has digest {actual}, not the expected {expected}; nothing was stored (the source is corrupt or was modified, retry the download)")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },

    #[error("blob {digest} at {path} is corrupt (its content hashes to {actual}); remove the image and pull it again")]
    BlobCorrupt {
        digest: Digest,
        path: PathBuf,
        actual: Digest,
    },

    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("database {path}: {context}: {source}")]
    Database {
        path: PathBuf,
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    /// Plain SQLite error, for `?` inside [`crate::Db::write`] closures.
    #[error("metadata database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("database {path} has schema version {found}, so it was created by a newer berth (this berth knows up to version {supported}); upgrade berth or use another --root")]
    SchemaTooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("database {path} cannot use the WAL journal (SQLite kept {mode:?}); put the berth root on a local filesystem (not NFS or similar)")]
    WalUnavailable { path: PathBuf, mode: String },
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn db(
        path: impl Into<PathBuf>,
        context: impl Into<String>,
        source: rusqlite::Error,
    ) -> Self {
        StoreError::Database {
            path: path.into(),
            context: context.into(),
            source,
        }
    }
}
