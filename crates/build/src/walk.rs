//! Walking a directory tree through fds: every step is an `openat` of one name
//! with O_NOFOLLOW below a directory fd already inside the tree, so a symlink is
//! reported, never followed, and a directory renamed mid-walk cannot lead out.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{openat, statat, AtFlags, Dir, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{BuildError, Result};

/// What to do with an entry the walker found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    Include,
    /// Not reported, and not descended into.
    Skip,
    /// An excluded directory that may contain included entries: descended into,
    /// and reported only if something below it is.
    Descend,
}

/// One entry found by [`walk`].
pub(crate) struct Node<'a> {
    /// Path relative to the walk's start, '/'-separated.
    pub rel: &'a Path,
    /// The directory holding the entry.
    pub dir: BorrowedFd<'a>,
    pub name: &'a OsStr,
    pub stat: &'a Stat,
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

fn ctx_err(place: &Path, rel: &Path, what: &str, e: Errno) -> BuildError {
    BuildError::Context {
        path: place.join(rel),
        what: what.to_string(),
        source: e.into(),
    }
}

/// Open directory `name` in `dir` for listing, refusing a symlink.
pub(crate) fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Sorted names in `dir` (byte order, "." and ".." left out).
pub(crate) fn list(dir: BorrowedFd<'_>) -> std::result::Result<Vec<OsString>, Errno> {
    let fd = openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for e in Dir::read_from(&fd)? {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Walk everything below `dir` (not `dir` itself) in sorted, pre-order.
/// `decide(rel, is_dir)` filters; `f` sees what is included. A directory that
/// `decide` answers [`Visit::Descend`] for is reported just before the first
/// included entry below it. `place` names the tree in errors.
pub(crate) fn walk(
    dir: BorrowedFd<'_>,
    place: &Path,
    decide: &mut dyn FnMut(&Path, bool) -> Visit,
    f: &mut dyn FnMut(&Node<'_>) -> Result<()>,
) -> Result<()> {
    let mut pending: Vec<(PathBuf, OwnedFd, OsString, Stat)> = Vec::new();
    walk_in(dir, Path::new(""), place, decide, f, &mut pending)
}

fn walk_in(
    dir: BorrowedFd<'_>,
    rel_dir: &Path,
    place: &Path,
    decide: &mut dyn FnMut(&Path, bool) -> Visit,
    f: &mut dyn FnMut(&Node<'_>) -> Result<()>,
    pending: &mut Vec<(PathBuf, OwnedFd, OsString, Stat)>,
) -> Result<()> {
    let names = list(dir).map_err(|e| ctx_err(place, rel_dir, "cannot list directory", e))?;
    for name in names {
        let rel = rel_dir.join(&name);
        let st = match statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Removed while we walked: it is simply not part of the tree.
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(ctx_err(place, &rel, "cannot stat", e)),
        };
        let ft = file_type(&st);
        if ft == FileType::Socket {
            // Docker's context tar cannot carry sockets either.
            continue;
        }
        let is_dir = ft == FileType::Directory;
        let visit = decide(&rel, is_dir);
        if visit == Visit::Skip || (visit == Visit::Descend && !is_dir) {
            continue;
        }
        if visit == Visit::Include {
            flush(pending, f)?;
            f(&Node {
                rel: &rel,
                dir,
                name: &name,
                stat: &st,
            })?;
        }
        if is_dir {
            let sub = match open_dir(dir, &name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(ctx_err(place, &rel, "cannot open directory", e)),
            };
            if visit == Visit::Descend {
                let dup = rustix::io::fcntl_dupfd_cloexec(dir, 0)
                    .map_err(|e| ctx_err(place, &rel, "dup", e))?;
                pending.push((rel.clone(), dup, name.clone(), st));
                walk_in(sub.as_fd(), &rel, place, decide, f, pending)?;
                // Nothing below was included: forget it.
                if pending.last().is_some_and(|p| p.0 == rel) {
                    pending.pop();
                }
            } else {
                walk_in(sub.as_fd(), &rel, place, decide, f, pending)?;
            }
        }
    }
    Ok(())
}

fn flush(
    pending: &mut Vec<(PathBuf, OwnedFd, OsString, Stat)>,
    f: &mut dyn FnMut(&Node<'_>) -> Result<()>,
) -> Result<()> {
    for (rel, dir, name, st) in pending.drain(..) {
        f(&Node {
            rel: &rel,
            dir: dir.as_fd(),
            name: &name,
            stat: &st,
        })?;
    }
    Ok(())
}
