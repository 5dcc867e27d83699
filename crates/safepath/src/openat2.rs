//! openat2(2)-based resolution: the kernel does the confinement.
//!
//! RESOLVE_IN_ROOT makes the dirfd act as "/" for absolute symlinks and
//! clamps ".." there; RESOLVE_NO_MAGICLINKS refuses /proc/*/fd style links,
//! which would otherwise teleport the lookup to an arbitrary host object.

use std::ffi::OsStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// The kernel returns EAGAIN for RESOLVE_IN_ROOT lookups when a rename or
/// mount raced with a ".." step; retrying is the documented remedy.
const EAGAIN_RETRIES: u32 = 128;

pub(crate) fn flags() -> ResolveFlags {
    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS
}

/// Strip leading slashes (harmless under RESOLVE_IN_ROOT, but it keeps both
/// resolvers seeing the same relative path) and map "" to "." since the
/// kernel rejects an empty path.
pub(crate) fn rel(path: &Path) -> &Path {
    let s = path.as_os_str().as_bytes();
    match s.iter().position(|&b| b != b'/') {
        Some(i) => Path::new(OsStr::from_bytes(&s[i..])),
        None => Path::new("."),
    }
}

pub(crate) fn open(
    root: BorrowedFd<'_>,
    path: &Path,
    oflags: OFlags,
    mode: Mode,
) -> Result<OwnedFd, Errno> {
    let path = rel(path);
    // The kernel rejects a non-zero mode unless something is being created.
    let mode = if oflags.intersects(OFlags::CREATE | OFlags::TMPFILE) {
        mode
    } else {
        Mode::empty()
    };
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, path, oflags | OFlags::CLOEXEC, mode, flags()) {
            Err(Errno::AGAIN) if tries < EAGAIN_RETRIES => tries += 1,
            r => return r,
        }
    }
}

/// Whether openat2 with our resolve flags works here. Old kernels give
/// ENOSYS; container seccomp profiles commonly answer EPERM (or ENOSYS).
pub(crate) fn available(root: BorrowedFd<'_>) -> bool {
    open(
        root,
        Path::new("."),
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rel_strips_leading_slashes() {
        assert_eq!(rel(Path::new("///a/b")), Path::new("a/b"));
        assert_eq!(rel(Path::new("a")), Path::new("a"));
        assert_eq!(rel(Path::new("/")), Path::new("."));
        assert_eq!(rel(Path::new("")), Path::new("."));
    }
}
