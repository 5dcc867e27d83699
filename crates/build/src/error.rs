//! One error type for the crate. Every variant names the object that failed (a
//! pattern, a path in the context or the image, a URL) and, where the user can do
//! something about it, says what.

use std::io;
use std::path::PathBuf;

use berth_image::layer::LayerError;
use berth_safepath::SafePathError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A `.dockerignore` line, an `--exclude` pattern or a COPY source pattern that
    /// does not parse (Go's `filepath.ErrBadPattern` cases).
    #[error("bad pattern {pattern:?} in {origin}: {why}")]
    BadPattern {
        origin: String,
        pattern: String,
        why: String,
    },

    /// Reading or walking the build context failed.
    #[error("build context {}: {what}: {source}", path.display())]
    Context {
        path: PathBuf,
        what: String,
        #[source]
        source: io::Error,
    },

    /// The Dockerfile could not be found or read.
    #[error("cannot read the Dockerfile {}: {source}; name it with -f or put a Dockerfile in the context", path.display())]
    Dockerfile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A path inside the context or a root filesystem could not be resolved safely
    /// (it would leave the root, a component is not a directory, ...).
    #[error("{what}: {source}")]
    Path {
        what: String,
        #[source]
        source: SafePathError,
    },

    /// A COPY/ADD source names nothing (nothing matches a wildcard).
    #[error(
        "COPY/ADD source {pattern:?} not found in {place}: check the path and the .dockerignore"
    )]
    SourceNotFound { pattern: String, place: String },

    /// I/O on a named file.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Extracting a tar (a context from stdin, an ADD archive) failed.
    #[error("extracting {what}: {source}")]
    Extract {
        what: String,
        #[source]
        source: LayerError,
    },

    /// The COPY/ADD arguments contradict each other or the destination.
    #[error("COPY/ADD to {dest}: {why}")]
    Destination { dest: String, why: String },

    /// `--chown` names a user or group the image does not have.
    #[error("--chown={spec}: {why}")]
    Chown { spec: String, why: String },

    /// `--chmod` is not an octal or symbolic mode.
    #[error("--chmod={spec}: {why}; use octal (0755) or symbolic (u+x,go-w)")]
    Chmod { spec: String, why: String },

    /// ADD from a URL failed.
    #[error("ADD {url}: {why}")]
    Download { url: String, why: String },

    /// ADD --checksum did not match what the URL served.
    #[error("ADD {url}: checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    /// The Dockerfile does not parse (nothing has run).
    #[error("{0}")]
    Parse(#[from] berth_dockerfile::ParseError),

    /// A container-side failure (the spec, the rootfs, the runtime).
    #[error(transparent)]
    Engine(#[from] berth_engine::error::EngineError),

    /// The image store refused a layer or an image, or a base image is missing.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),

    /// A step that cannot be carried out as written (a bad variable, an unknown
    /// stage, a flag value).
    #[error("{step}: {why}")]
    Step { step: String, why: String },

    /// A RUN whose process failed.
    #[error("{step}: process \"{command}\" did not complete successfully: exit code: {code}")]
    RunFailed {
        step: String,
        command: String,
        code: i32,
    },

    /// A `--cache-to` / `--cache-from` value that does not parse (nothing has run).
    #[error("invalid {flag} {value:?}: {why}")]
    CacheFlag {
        flag: &'static str,
        value: String,
        why: String,
    },

    /// Exporting or importing a build cache failed; `place` names the cache (a
    /// directory or a registry reference).
    #[error("build cache {place}: {why}")]
    Cache { place: String, why: String },

    /// A stage left unbuilt, or stopped between two steps, because another stage
    /// failed first; that failure is the build's error.
    #[error("stage {stage} was not finished: another stage failed first")]
    Stopped { stage: String },

    /// The stat cache file could not be written.
    #[error("stat cache {}: {source}", path.display())]
    StatCache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

/// `map_err` helper for I/O on a path.
pub(crate) fn io_at(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> BuildError {
    let path = path.into();
    move |source| BuildError::Io { op, path, source }
}

/// `map_err` helper for safepath failures.
pub(crate) fn path_err(what: impl Into<String>) -> impl FnOnce(SafePathError) -> BuildError {
    let what = what.into();
    move |source| BuildError::Path { what, source }
}
