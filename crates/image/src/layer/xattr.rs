//! Extended attributes by path without following a final symlink. Paths
//! given here are either host paths we walk ourselves (diff) or
//! `/proc/self/fd/<dir>/<name>` (extract), whose only followed link is the
//! magic link to a directory we already hold inside the root.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::XattrFlags;
use rustix::io::Errno;

/// Largest value Linux allows (XATTR_SIZE_MAX).
const MAX_VALUE: usize = 64 * 1024;

pub(crate) fn list(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut cap = 1024;
    loop {
        let mut buf = vec![0u8; cap];
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|b| *b == 0)
                    .filter(|n| !n.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect())
            }
            Err(Errno::RANGE) if cap < MAX_VALUE * 16 => cap *= 8,
            Err(Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Value of `name`, None if it is not set (or xattrs are unsupported).
pub(crate) fn get(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut cap = 256;
    loop {
        let mut buf = vec![0u8; cap];
        match rustix::fs::lgetxattr(path, OsStr::from_bytes(name), &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(Errno::RANGE) if cap < MAX_VALUE => cap = MAX_VALUE,
            Err(Errno::NODATA) | Err(Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) fn set(path: &Path, name: &[u8], value: &[u8]) -> Result<(), Errno> {
    rustix::fs::lsetxattr(path, OsStr::from_bytes(name), value, XattrFlags::empty())
}

pub(crate) fn fset(fd: impl rustix::fd::AsFd, name: &[u8], value: &[u8]) -> Result<(), Errno> {
    rustix::fs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty())
}

/// Set on the object an fd (possibly O_PATH) refers to: fsetxattr refuses
/// O_PATH fds, so go through the magic link, which must be followed (the
/// l-variant would act on the /proc link itself).
pub(crate) fn set_on_fd(
    fd: rustix::fd::BorrowedFd<'_>,
    name: &[u8],
    value: &[u8],
) -> Result<(), Errno> {
    rustix::fs::setxattr(
        berth_safepath::proc_fd_path(fd),
        OsStr::from_bytes(name),
        value,
        XattrFlags::empty(),
    )
}
