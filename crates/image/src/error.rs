//! Errors of the image store: each says what failed, on which image or layer, and what
//! the user can do.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("invalid reference format {reference:?}: {why}")]
    InvalidReference { reference: String, why: String },

    #[error("No such image: {0}")]
    NotFound(String),

    #[error(
        "image reference {name:?} is ambiguous: it matches {count} images; use more of the id"
    )]
    Ambiguous { name: String, count: usize },

    #[error("conflict: unable to delete {what} ({why})")]
    Conflict { what: String, why: String },

    #[error("no manifest list named {0}; create it with `berth manifest create {0}`")]
    ListNotFound(String),

    #[error("cannot use the name {name}: {why}")]
    NameInUse { name: String, why: String },

    #[error("invalid image {what}: {why}")]
    Invalid { what: String, why: String },

    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },

    #[error("{0}")]
    Store(#[from] berth_store::StoreError),

    #[error("{0}")]
    Layer(#[from] crate::layer::LayerError),

    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("mounting {target}: {why}")]
    Mount { target: PathBuf, why: String },
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| ImageError::Io {
            what: what(),
            source,
        })
    }
}
