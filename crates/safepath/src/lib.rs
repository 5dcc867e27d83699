//! Resolve, open and create paths inside a root directory (a container
//! rootfs) without ever leaving it, even if the rootfs is hostile: absolute
//! symlinks, "..", symlink loops and components swapped for symlinks while we
//! work (the CVE-2021-30465 class).
//!
//! The kernel does the confinement when it can (openat2 with
//! RESOLVE_IN_ROOT); otherwise a userspace walk over O_PATH fds does. Either
//! way, callers get fds, not paths: mount onto [`proc_fd_path`] of the
//! returned fd so nothing can be swapped between resolution and use.

mod create;
mod error;
mod openat2;
mod root;
mod walk;

use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

pub use create::NodeKind;
pub use error::{Component, Op, SafePathError};
pub use root::{Resolver, Root};
pub use rustix::fs::OFlags;

/// `/proc/self/fd/N` for `fd`. Mounting onto (or opening) this path acts on
/// the exact object the fd refers to, not on whatever its old path now names.
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The path the kernel reports for `fd` (readlink of `/proc/self/fd/N`).
/// For checks and error messages only: the answer can be stale the moment it
/// is returned.
pub fn fd_real_path(fd: BorrowedFd<'_>) -> Result<PathBuf, SafePathError> {
    let link = proc_fd_path(fd);
    rustix::fs::readlink(&link, Vec::new())
        .map(|target| PathBuf::from(OsString::from_vec(target.into_bytes())))
        .map_err(|e| SafePathError::FdPath {
            path: link,
            source: e.into(),
        })
}

/// `root.open(path, flags, mode)`: a real open inside the root, see
/// [`Root::open_at`]. It lives in a trait only because Rust does not allow an
/// inherent method with the same name as the [`Root::open`] constructor.
pub trait OpenInRoot {
    fn open(&self, path: &Path, flags: OFlags, mode: u32) -> Result<OwnedFd, SafePathError>;
}

impl OpenInRoot for Root {
    fn open(&self, path: &Path, flags: OFlags, mode: u32) -> Result<OwnedFd, SafePathError> {
        self.open_at(path, flags, mode)
    }
}
