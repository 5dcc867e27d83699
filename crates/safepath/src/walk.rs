//! Component-by-component resolver, used when openat2 is unavailable and for
//! creating directories (which openat2 cannot do).
//!
//! Why it cannot escape: every step is `openat(dir, name, O_PATH|O_NOFOLLOW)`
//! with a single component `name` relative to a directory fd that was itself
//! reached this way from the root fd. ".." is never passed to the kernel;
//! instead we keep the chain of directory fds and pop it, which clamps at the
//! root and cannot be redirected by renames. Symlink targets are read as text
//! and spliced into the remaining components, with absolute targets restarting
//! at the root. Magic links (/proc/*/fd/*) therefore resolve as plain text
//! inside the root instead of jumping to the object they point at.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Component, Path};

use rustix::fs::{fstat, mkdirat, openat, readlinkat, FileType, Mode, OFlags};
use rustix::io::{fcntl_dupfd_cloexec, Errno};

use crate::error::{Cause, FResult, Fail, MAX_SYMLINKS};

#[derive(Debug, Clone, Copy)]
pub(crate) enum WalkMode {
    /// Look up; follow a symlink in the last component only if `follow_last`.
    Lookup { follow_last: bool },
    /// Every component must be (or become, via mkdir with this mode) a directory.
    CreateDirs(Mode),
}

/// Where a walk ended.
#[derive(Debug)]
pub(crate) struct Walked {
    /// The directory holding `last`, or the final directory itself if `last`
    /// is `None` (path was "/", ended in "..", had a trailing slash, or
    /// directories were being created).
    pub dir: OwnedFd,
    /// Final component name and, if it exists, an O_PATH|O_NOFOLLOW fd of it.
    pub last: Option<(OsString, Option<OwnedFd>)>,
}

enum Step {
    Parent,
    Name(OsString),
}

fn push_components(queue: &mut VecDeque<Step>, path: &Path) {
    // Reverse + push_front keeps the order while putting the new components
    // before whatever remained of the path.
    let steps: Vec<Step> = path
        .components()
        .filter_map(|c| match c {
            Component::ParentDir => Some(Step::Parent),
            Component::Normal(n) => Some(Step::Name(n.to_os_string())),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for s in steps.into_iter().rev() {
        queue.push_front(s);
    }
}

/// POSIX says a trailing slash (or "/.") forces the path to name a
/// directory, following a final symlink; `Path::components` hides it.
pub(crate) fn wants_dir(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    b.len() > 1 && (b.ends_with(b"/") || b.ends_with(b"/.")) || b == b"."
}

fn file_type(fd: &OwnedFd) -> Result<FileType, Errno> {
    Ok(FileType::from_raw_mode(fstat(fd)?.st_mode))
}

pub(crate) fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    fcntl_dupfd_cloexec(fd, 0)
}

/// Resolve `path` inside `root` (an O_PATH directory fd).
pub(crate) fn walk(root: BorrowedFd<'_>, path: &Path, mode: WalkMode) -> FResult<Walked> {
    let mut queue = VecDeque::new();
    push_components(&mut queue, path);
    let must_be_dir = wants_dir(path);
    // Directories below the root that we are currently inside.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0u32;
    // mkdir may race with another creator; bound the retries so a hostile
    // rootfs flipping an entry cannot spin us forever.
    let mut create_retries = 0u32;

    while let Some(step) = queue.pop_front() {
        let name = match step {
            Step::Parent => {
                stack.pop();
                continue;
            }
            Step::Name(n) => n,
        };
        let cur = stack.last().map_or(root, |f| f.as_fd());
        let terminal = queue.is_empty() && !must_be_dir && matches!(mode, WalkMode::Lookup { .. });

        let fd = match openat(
            cur,
            name.as_os_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) if terminal => {
                let dir = take_dir(root, stack)?;
                return Ok(Walked {
                    dir,
                    last: Some((name, None)),
                });
            }
            Err(Errno::NOENT) => match mode {
                WalkMode::CreateDirs(m) => {
                    match mkdirat(cur, name.as_os_str(), m) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Fail::new(Cause::IoAt(name), e)),
                    }
                    create_retries += 1;
                    if create_retries > 64 {
                        return Err(Fail::new(Cause::IoAt(name), Errno::AGAIN));
                    }
                    // Re-examine the entry like any other: it may be a
                    // symlink planted between our lookup and mkdir.
                    queue.push_front(Step::Name(name));
                    continue;
                }
                WalkMode::Lookup { .. } => {
                    return Err(Fail::new(Cause::NotFound(name), Errno::NOENT))
                }
            },
            Err(Errno::NOTDIR) => return Err(Fail::new(Cause::NotADirectory(name), Errno::NOTDIR)),
            Err(e) => return Err(Fail::new(Cause::IoAt(name), e)),
        };

        let ft = file_type(&fd).map_err(|e| Fail::new(Cause::IoAt(name.clone()), e))?;
        let follow = match mode {
            WalkMode::Lookup { follow_last } => !terminal || follow_last,
            WalkMode::CreateDirs(_) => true,
        };
        match ft {
            FileType::Symlink if follow => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Fail::new(Cause::Loop, Errno::LOOP));
                }
                // Empty path + O_PATH symlink fd reads this very link, so
                // the text belongs to the inode we just type-checked.
                let target = readlinkat(&fd, "", Vec::new())
                    .map_err(|e| Fail::new(Cause::IoAt(name.clone()), e))?;
                let target = OsString::from_vec(target.into_bytes());
                if target.is_empty() {
                    return Err(Fail::new(Cause::NotFound(name), Errno::NOENT));
                }
                let target = Path::new(&target);
                if target.has_root() {
                    stack.clear();
                }
                push_components(&mut queue, target);
            }
            _ if terminal => {
                let dir = take_dir(root, stack)?;
                return Ok(Walked {
                    dir,
                    last: Some((name, Some(fd))),
                });
            }
            FileType::Directory => stack.push(fd),
            _ => return Err(Fail::new(Cause::NotADirectory(name), Errno::NOTDIR)),
        }
    }

    Ok(Walked {
        dir: take_dir(root, stack)?,
        last: None,
    })
}

fn take_dir(root: BorrowedFd<'_>, mut stack: Vec<OwnedFd>) -> FResult<OwnedFd> {
    match stack.pop() {
        Some(fd) => Ok(fd),
        None => Ok(dup(root)?),
    }
}

/// Resolve to a single fd (the `resolve`/`resolve_nofollow` contract).
pub(crate) fn resolve(root: BorrowedFd<'_>, path: &Path, follow_last: bool) -> FResult<OwnedFd> {
    let w = walk(root, path, WalkMode::Lookup { follow_last })?;
    match w.last {
        None => Ok(w.dir),
        Some((_, Some(fd))) => Ok(fd),
        Some((name, None)) => Err(Fail::new(Cause::NotFound(name), Errno::NOENT)),
    }
}

/// Last path component usable as a name to create, plus its parent path.
pub(crate) fn split_last(path: &Path) -> Option<(&Path, &OsStr)> {
    match path.components().next_back()? {
        Component::Normal(name) => Some((path.parent().unwrap_or(Path::new("")), name)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_slash_means_directory() {
        for p in ["a/", "a/.", "/a//", "."] {
            assert!(wants_dir(Path::new(p)), "{p}");
        }
        for p in ["a", "/", "/a/b", "", "a/.."] {
            assert!(!wants_dir(Path::new(p)), "{p}");
        }
    }

    #[test]
    fn split_last_needs_a_name() {
        assert_eq!(
            split_last(Path::new("/a/b")),
            Some((Path::new("/a"), OsStr::new("b")))
        );
        assert_eq!(
            split_last(Path::new("b")),
            Some((Path::new(""), OsStr::new("b")))
        );
        assert_eq!(split_last(Path::new("/")), None);
        assert_eq!(split_last(Path::new("a/..")), None);
        assert_eq!(split_last(Path::new("")), None);
    }
}
