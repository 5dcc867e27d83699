//! Errors name the layer (the directory or file being worked on), the entry
//! as the archive spelled it, and what is wrong, because "permission denied"
//! from somewhere inside a 2000-entry layer helps nobody.

use std::io;
use std::path::PathBuf;

use berth_safepath::SafePathError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    #[error("layer entry '{entry}' escapes the root {}", layer.display())]
    Escapes { layer: PathBuf, entry: String },

    #[error("layer entry '{entry}' in {}: hard link target '{target}' is outside the root", layer.display())]
    LinkEscapes {
        layer: PathBuf,
        entry: String,
        target: String,
    },

    #[error("layer entry '{entry}' in {}: hard link target '{target}' is not usable: {source}", layer.display())]
    LinkTarget {
        layer: PathBuf,
        entry: String,
        target: String,
        #[source]
        source: io::Error,
    },

    #[error("layer entry '{entry}' in {}: name is too long ({len} bytes, limit {limit})", layer.display())]
    NameTooLong {
        layer: PathBuf,
        entry: String,
        len: usize,
        limit: usize,
    },

    #[error("layer entry '{entry}' in {}: {what}", layer.display())]
    Invalid {
        layer: PathBuf,
        entry: String,
        what: String,
    },

    #[error("layer entry '{entry}' in {}: the stream ended after {got} of {expected} content bytes", layer.display())]
    Truncated {
        layer: PathBuf,
        entry: String,
        expected: u64,
        got: u64,
    },

    #[error("layer {}: malformed tar stream{}: {source}", layer.display(), after.as_ref().map(|a| format!(" after entry '{a}'")).unwrap_or_default())]
    Tar {
        layer: PathBuf,
        after: Option<String>,
        #[source]
        source: io::Error,
    },

    #[error("layer {}: tar extension headers before one entry exceed {limit} bytes{}", layer.display(), after.as_ref().map(|a| format!(" (after entry '{a}')")).unwrap_or_default())]
    MetadataTooLarge {
        layer: PathBuf,
        after: Option<String>,
        limit: u64,
    },

    #[error("layer entry '{entry}' in {}: {op}: {source}", layer.display())]
    Io {
        layer: PathBuf,
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("layer entry '{entry}' in {}: {source}", layer.display())]
    Path {
        layer: PathBuf,
        entry: String,
        #[source]
        source: Box<SafePathError>,
    },

    #[error("layer entry '{entry}' in {}: cannot create the overlay whiteout (a 0/0 character device): {source}; extract with rootless set to use the xattr form", layer.display())]
    WhiteoutNotPermitted {
        layer: PathBuf,
        entry: String,
        #[source]
        source: io::Error,
    },

    #[error("layer {}: {op}: {source}", layer.display())]
    Stream {
        layer: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("tar-split {}: {what}", path.display())]
    TarSplit {
        path: PathBuf,
        what: String,
        #[source]
        source: Option<io::Error>,
    },

    #[error("layer {}: file '{entry}' has {got} bytes, the tar-split recorded {expected}", layer.display())]
    SizeMismatch {
        layer: PathBuf,
        entry: String,
        expected: u64,
        got: u64,
    },
}
