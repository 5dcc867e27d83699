//! Errors of the registry client. Each names the registry (and repository when there is
//! one) and, where the user can act, what to do.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error(
        "{registry}: unauthorized: authentication required; run `berth login {registry}`{detail}"
    )]
    Unauthorized { registry: String, detail: String },
    #[error("{registry}: login failed: incorrect username or password ({detail})")]
    LoginFailed { registry: String, detail: String },
    #[error("{registry}/{repository}: {what} not found{detail}")]
    NotFound {
        registry: String,
        repository: String,
        what: String,
        detail: String,
    },
    #[error("{registry}: {what}: HTTP {status}{detail}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: {what}: {why}; check the address, that the registry is running, and TLS settings (--tls-verify, insecure registries in berth.toml)")]
    Network {
        registry: String,
        what: String,
        why: String,
    },
    #[error("{registry}/{repository}: {what} failed digest verification: expected {expected}, got {actual}; the registry served corrupt or altered content, nothing was stored")]
    Digest {
        registry: String,
        repository: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{registry}/{repository}: {why}")]
    Invalid {
        registry: String,
        repository: String,
        why: String,
    },
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("{path}: {why}")]
    Config { path: String, why: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
}

pub type Result<T> = std::result::Result<T, ClientError>;

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
    let context = context.into();
    move |source| ClientError::Io { context, source }
}
