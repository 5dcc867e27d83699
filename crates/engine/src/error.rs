//! Errors of the container engine: each names what failed, on which container, volume
//! or image, and what the user can do about it.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("No such container: {0}")]
    NoSuchContainer(String),

    #[error(
        "container name {name:?} is ambiguous: it matches {count} containers; use more of the id"
    )]
    Ambiguous { name: String, count: usize },

    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },

    #[error("No such volume: {0}")]
    NoSuchVolume(String),

    #[error("invalid {what}: {why}")]
    Invalid { what: String, why: String },

    #[error("container {id} {why}")]
    State { id: String, why: String },

    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },

    #[error("{0}")]
    Image(#[from] berth_image::ImageError),

    #[error("{0}")]
    Store(#[from] berth_store::StoreError),

    #[error("{0}")]
    Runtime(#[from] berth_runtime::RuntimeError),

    #[error("{0}")]
    Security(#[from] crate::security::SecurityError),

    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("{0}")]
    Network(#[from] berth_network::NetError),

    #[error("{what}: {why}")]
    Json { what: String, why: String },

    /// The container's process could not be started; `code` is Docker's exit status
    /// for it (125, or 126/127 when the command cannot be executed / found).
    #[error("{message}")]
    StartFailed { message: String, code: i32 },
}

impl EngineError {
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> EngineError {
        EngineError::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    pub fn state(id: &str, why: impl Into<String>) -> EngineError {
        EngineError::State {
            id: id.to_string(),
            why: why.into(),
        }
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| EngineError::Io {
            what: what(),
            source,
        })
    }
}
