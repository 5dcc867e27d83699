//! `Root`: a directory fd that every lookup is confined to, and the lookups
//! that only read (resolve, open).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Cause, FResult, Fail, Op, SafePathError};
use crate::walk::{self, WalkMode};
use crate::{fd_real_path, openat2};

/// How paths are resolved inside a [`Root`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (Linux 5.6+).
    Openat2,
    /// Userspace component-by-component walk with O_PATH|O_NOFOLLOW.
    Walk,
}

/// A directory (typically a container rootfs) that paths are resolved in as
/// if it were "/", without ever leaving it.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    resolver: Resolver,
}

impl Root {
    /// Open `path` (a trusted host path) as a root, using openat2 when the
    /// kernel and seccomp allow it and the userspace walk otherwise.
    pub fn open(path: &Path) -> Result<Root, SafePathError> {
        let fd = Self::open_fd(path)?;
        let resolver = if openat2::available(fd.as_fd()) {
            Resolver::Openat2
        } else {
            Resolver::Walk
        };
        Ok(Self::from_parts(fd, path, resolver))
    }

    /// Like [`Root::open`] but with a fixed resolver, e.g. to test the
    /// fallback on a kernel that has openat2.
    pub fn with_mode(path: &Path, resolver: Resolver) -> Result<Root, SafePathError> {
        let fd = Self::open_fd(path)?;
        Ok(Self::from_parts(fd, path, resolver))
    }

    fn open_fd(path: &Path) -> Result<OwnedFd, SafePathError> {
        rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafePathError::OpenRoot {
            op: Op::OpenRoot,
            path: path.to_path_buf(),
            root: path.to_path_buf(),
            source: e.into(),
        })
    }

    fn from_parts(fd: OwnedFd, path: &Path, resolver: Resolver) -> Root {
        Root {
            fd,
            path: path.to_path_buf(),
            resolver,
        }
    }

    /// The host path this root was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The resolver actually in use.
    pub fn resolver(&self) -> Resolver {
        self.resolver
    }

    pub(crate) fn err(&self, op: Op, path: &Path) -> impl FnOnce(Fail) -> SafePathError + '_ {
        let path = path.to_path_buf();
        move |f| f.into_error(op, &path, &self.path)
    }

    /// O_PATH fd of an existing path. `path` is relative to the root whether
    /// or not it starts with '/'; every symlink, including the last, is
    /// followed inside the root.
    pub fn resolve(&self, path: &Path) -> Result<OwnedFd, SafePathError> {
        self.resolve_inner(path, true)
            .map_err(self.err(Op::Resolve, path))
    }

    /// Like [`Root::resolve`], but a symlink in the last component is
    /// returned itself instead of followed.
    pub fn resolve_nofollow(&self, path: &Path) -> Result<OwnedFd, SafePathError> {
        self.resolve_inner(path, false)
            .map_err(self.err(Op::ResolveNofollow, path))
    }

    pub(crate) fn resolve_inner(&self, path: &Path, follow: bool) -> FResult<OwnedFd> {
        if self.resolver == Resolver::Openat2 {
            let mut flags = OFlags::PATH;
            if !follow {
                flags |= OFlags::NOFOLLOW;
            }
            match openat2::open(self.as_fd(), path, flags, Mode::empty()) {
                Ok(fd) => return Ok(fd),
                // seccomp installed after the probe: fall through to the walk.
                Err(Errno::NOSYS) => {}
                Err(e) => return Err(self.diagnose(e, path, follow)),
            }
        }
        let fd = walk::resolve(self.as_fd(), path, follow)?;
        self.verify(fd)
    }

    /// openat2 only says "ENOENT"; re-run the lookup with the walk to name
    /// the offending component. The walk's result is used for the message
    /// only, and only if it fails the same way.
    fn diagnose(&self, e: Errno, path: &Path, follow: bool) -> Fail {
        if matches!(e, Errno::NOENT | Errno::NOTDIR | Errno::LOOP) {
            if let Err(f) = walk::resolve(self.as_fd(), path, follow) {
                if f.errno() == Some(e) {
                    return f;
                }
            }
        }
        Fail::new(Cause::Io, e)
    }

    /// Defence in depth, applied to every walk result: the walk's steps never leave the root, but a
    /// directory we hold could be renamed out of it concurrently. Both paths
    /// are read now, in the current mount namespace, so they stay comparable
    /// after e.g. pivot_root. Skipped when /proc cannot tell us (the walk is
    /// the fallback for exactly such restricted environments).
    pub(crate) fn verify(&self, fd: OwnedFd) -> FResult<OwnedFd> {
        if let (Ok(root), Ok(real)) = (fd_real_path(self.as_fd()), fd_real_path(fd.as_fd())) {
            if !real.starts_with(&root) {
                return Err(Fail::new(Cause::Escaped(real), Errno::XDEV));
            }
        }
        Ok(fd)
    }

    /// A real (non-O_PATH unless asked) open inside the root, e.g. to write
    /// /proc/sys files or open /dev nodes. O_CLOEXEC is always added. With
    /// O_CREAT the file is created inside the root; `mode` is ignored
    /// otherwise. A symlink in the last component is followed inside the root
    /// unless `flags` has O_NOFOLLOW.
    ///
    /// Also reachable as `root.open(path, flags, mode)` through
    /// [`crate::OpenInRoot`] (an inherent method cannot share the name of the
    /// `Root::open` constructor).
    pub fn open_at(&self, path: &Path, flags: OFlags, mode: u32) -> Result<OwnedFd, SafePathError> {
        self.open_inner(path, flags, Mode::from_bits_truncate(mode))
            .map_err(self.err(Op::Open, path))
    }

    fn open_inner(&self, path: &Path, flags: OFlags, mode: Mode) -> FResult<OwnedFd> {
        // open(2): O_CREAT|O_EXCL never follows a final symlink (EEXIST).
        let follow =
            !flags.contains(OFlags::NOFOLLOW) && !flags.contains(OFlags::CREATE | OFlags::EXCL);
        if self.resolver == Resolver::Openat2 {
            match openat2::open(self.as_fd(), path, flags, mode) {
                Ok(fd) => return Ok(fd),
                Err(Errno::NOSYS) => {}
                Err(e) => return Err(self.diagnose(e, path, follow)),
            }
        }
        let w = walk::walk(
            self.as_fd(),
            path,
            WalkMode::Lookup {
                follow_last: follow,
            },
        )?;
        let fd = match w.last {
            None => rustix::fs::openat(&w.dir, ".", flags | OFlags::CLOEXEC, mode)?,
            // NOFOLLOW: the walk already followed what it should; if the
            // entry became a symlink since, failing (ELOOP) is the safe answer.
            Some((name, _)) => rustix::fs::openat(
                &w.dir,
                name.as_os_str(),
                flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                mode,
            )
            .map_err(|e| Fail::new(Cause::IoAt(name), e))?,
        };
        self.verify(fd)
    }
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_fds_outside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(base.join("root/in")).unwrap();
        std::fs::create_dir_all(base.join("rootx")).unwrap();
        let root = Root::with_mode(&base.join("root"), Resolver::Walk).unwrap();
        let open = |p: &Path| rustix::fs::open(p, OFlags::PATH, Mode::empty()).unwrap();

        assert!(root.verify(open(&base.join("root/in"))).is_ok());
        // A sibling sharing the root's name as a string prefix is outside.
        for outside in [base.join("rootx"), base.clone()] {
            let f = root.verify(open(&outside)).unwrap_err();
            let e = f.into_error(Op::Resolve, Path::new("in"), root.path());
            assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
            assert_eq!(
                e.to_string(),
                format!(
                    "resolve: 'in' resolved to {} which is outside the root {}",
                    outside.display(),
                    base.join("root").display()
                )
            );
        }
    }
}
