//! Error type. Every failure carries the operation, the path exactly as the
//! caller wrote it and the root it was confined to, because a bare errno from
//! deep inside a mount setup is useless when debugging a broken rootfs.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

/// The public operation that failed; shown first in every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    OpenRoot,
    Resolve,
    ResolveNofollow,
    MkdirAll,
    CreateFile,
    Open,
    Mknod,
    Symlink,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::OpenRoot => "open root",
            Op::Resolve => "resolve",
            Op::ResolveNofollow => "resolve (nofollow)",
            Op::MkdirAll => "mkdir_all",
            Op::CreateFile => "create_file",
            Op::Open => "open",
            Op::Mknod => "mknod",
            Op::Symlink => "symlink",
        })
    }
}

/// Shows an `OsString` component lossily; only used inside messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component(pub OsString);

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_string_lossy())
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafePathError {
    #[error("{op}: cannot open root directory {}: {source}", root.display())]
    OpenRoot {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        source: io::Error,
    },

    #[error("{op}: component '{component}' of '{}' inside {} does not exist", path.display(), root.display())]
    NotFound {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        component: Component,
        source: io::Error,
    },

    #[error("{op}: component '{component}' of '{}' inside {} is not a directory", path.display(), root.display())]
    NotADirectory {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        component: Component,
        source: io::Error,
    },

    #[error("{op}: too many levels of symbolic links (limit {limit}) resolving '{}' inside {}", path.display(), root.display())]
    SymlinkLoop {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        limit: u32,
        source: io::Error,
    },

    #[error("{op}: '{component}' of '{}' inside {} is a symlink; refusing to follow it", path.display(), root.display())]
    IsSymlink {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        component: Component,
        source: io::Error,
    },

    #[error("{op}: '{}' inside {} already exists: {what}", path.display(), root.display())]
    AlreadyExists {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        what: String,
        source: io::Error,
    },

    #[error("{op}: invalid path '{}' inside {}: {reason}", path.display(), root.display())]
    InvalidPath {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        reason: &'static str,
        source: io::Error,
    },

    #[error("{op}: '{}' resolved to {} which is outside the root {}", path.display(), real.display(), root.display())]
    Escaped {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        real: PathBuf,
        source: io::Error,
    },

    #[error("{op}: component '{component}' of '{}' inside {}: {source}", path.display(), root.display())]
    ComponentIo {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        component: Component,
        source: io::Error,
    },

    #[error("{op}: '{}' inside {}: {source}", path.display(), root.display())]
    Io {
        op: Op,
        path: PathBuf,
        root: PathBuf,
        source: io::Error,
    },

    /// From [`crate::fd_real_path`]: there is no root involved, `path` is the
    /// `/proc/self/fd/N` link that could not be read.
    #[error("cannot read the path of {}: {source}", path.display())]
    FdPath { path: PathBuf, source: io::Error },
}

impl SafePathError {
    /// The underlying OS error, so callers can still branch on errno (e.g.
    /// treat ENOENT of an optional mount source as "skip").
    pub fn io_error(&self) -> &io::Error {
        match self {
            SafePathError::OpenRoot { source, .. }
            | SafePathError::NotFound { source, .. }
            | SafePathError::NotADirectory { source, .. }
            | SafePathError::SymlinkLoop { source, .. }
            | SafePathError::IsSymlink { source, .. }
            | SafePathError::AlreadyExists { source, .. }
            | SafePathError::InvalidPath { source, .. }
            | SafePathError::Escaped { source, .. }
            | SafePathError::ComponentIo { source, .. }
            | SafePathError::Io { source, .. }
            | SafePathError::FdPath { source, .. } => source,
        }
    }

    pub fn raw_os_error(&self) -> Option<i32> {
        self.io_error().raw_os_error()
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.io_error().kind()
    }
}

impl From<SafePathError> for io::Error {
    fn from(e: SafePathError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// What went wrong, before the operation/path/root context is known. The
/// resolvers produce this; `Root` attaches the context.
#[derive(Debug)]
pub(crate) enum Cause {
    Io,
    IoAt(OsString),
    NotFound(OsString),
    NotADirectory(OsString),
    Loop,
    IsSymlink(OsString),
    Exists(String),
    Invalid(&'static str),
    Escaped(PathBuf),
}

#[derive(Debug)]
pub(crate) struct Fail {
    pub cause: Cause,
    pub source: io::Error,
}

pub(crate) type FResult<T> = Result<T, Fail>;

/// Limit on symlinks followed in one resolution; same number the kernel uses.
pub(crate) const MAX_SYMLINKS: u32 = 40;

impl Fail {
    pub fn new(cause: Cause, errno: Errno) -> Fail {
        Fail {
            cause,
            source: errno.into(),
        }
    }

    pub fn errno(&self) -> Option<Errno> {
        self.source.raw_os_error().map(Errno::from_raw_os_error)
    }

    pub fn into_error(self, op: Op, path: &Path, root: &Path) -> SafePathError {
        let path = path.to_path_buf();
        let root = root.to_path_buf();
        let source = self.source;
        match self.cause {
            Cause::Io => SafePathError::Io {
                op,
                path,
                root,
                source,
            },
            Cause::IoAt(c) => SafePathError::ComponentIo {
                op,
                path,
                root,
                component: Component(c),
                source,
            },
            Cause::NotFound(c) => SafePathError::NotFound {
                op,
                path,
                root,
                component: Component(c),
                source,
            },
            Cause::NotADirectory(c) => SafePathError::NotADirectory {
                op,
                path,
                root,
                component: Component(c),
                source,
            },
            Cause::Loop => SafePathError::SymlinkLoop {
                op,
                path,
                root,
                limit: MAX_SYMLINKS,
                source,
            },
            Cause::IsSymlink(c) => SafePathError::IsSymlink {
                op,
                path,
                root,
                component: Component(c),
                source,
            },
            Cause::Exists(what) => SafePathError::AlreadyExists {
                op,
                path,
                root,
                what,
                source,
            },
            Cause::Invalid(reason) => SafePathError::InvalidPath {
                op,
                path,
                root,
                reason,
                source,
            },
            Cause::Escaped(real) => SafePathError::Escaped {
                op,
                path,
                root,
                real,
                source,
            },
        }
    }
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Fail {
        Fail::new(Cause::Io, e)
    }
}
