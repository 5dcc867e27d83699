//! The runtime's error type. Every variant says what failed, on which object, and
//! (where there is something to do) what the user can do about it.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("container \"{0}\" does not exist")]
    NotFound(String),

    #[error("container \"{0}\" already exists: pick another id or delete it first")]
    Exists(String),

    #[error("invalid container id {id:?}: {why}")]
    InvalidId { id: String, why: &'static str },

    #[error("container \"{id}\" is {status}: {action} needs it {needed}")]
    WrongState {
        id: String,
        status: String,
        action: &'static str,
        needed: &'static str,
    },

    #[error("cannot read the bundle's config {path}: {source}")]
    ConfigRead { path: PathBuf, source: io::Error },

    #[error("invalid config {path}: {source}")]
    ConfigParse {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("unsupported config: {0}")]
    Config(String),

    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },

    #[error("state of container \"{id}\" at {path} is unreadable: {why}")]
    State {
        id: String,
        path: PathBuf,
        why: String,
    },

    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::CgroupError),

    #[error("{0}")]
    Path(#[from] berth_safepath::SafePathError),

    #[error("{0}")]
    Seccomp(#[from] crate::seccomp::SeccompError),

    #[error("{0}")]
    Capability(#[from] crate::capabilities::CapabilityError),

    #[error("{hook} hook {path} failed: {why}")]
    Hook {
        hook: &'static str,
        path: PathBuf,
        why: String,
    },

    #[error("container init failed: {0}")]
    Init(String),

    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Attaches a description of the failed operation to an io::Error.
pub trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| RuntimeError::Io {
            what: what(),
            source,
        })
    }
}
