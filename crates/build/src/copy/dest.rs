//! Writing into the destination root. Parent directories are resolved with
//! berth-safepath (symlinks in the image are followed only inside it); the
//! final entry is always made with one *at() call on that parent fd that never
//! follows a symlink, and an existing non-directory there is unlinked first, so
//! nothing is ever written through a symlink or a hard link of the image.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use berth_safepath::Root;
use rustix::fs::{
    fchmod, fchown, fstat, futimens, linkat, mkdirat, mknodat, openat, statat, symlinkat, unlinkat,
    utimensat, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid,
};
use rustix::io::Errno;

use crate::error::{path_err, BuildError, Result};
use crate::users::Owner;

/// Mode of directories COPY creates on the way to its destination.
pub(crate) const PARENT_MODE: u32 = 0o755;

/// Times to give a new entry: (atime, mtime).
pub(crate) type Times = (Timespec, Timespec);

/// What a new entry gets besides its content.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attrs {
    /// Permission bits (07777).
    pub mode: u32,
    pub owner: Owner,
    /// `None` leaves the creation time.
    pub times: Option<Times>,
}

pub(crate) struct DestRoot {
    pub root: Root,
    /// Real host path of the root, to turn resolved fds back into image paths.
    real: PathBuf,
    /// Not root: chown failures with EPERM are ignored (a rootless build
    /// cannot give files away; the user namespace maps them later).
    rootless: bool,
}

fn errno_io(e: Errno) -> io::Error {
    e.into()
}

impl DestRoot {
    pub fn open(path: &Path) -> Result<DestRoot> {
        let root = Root::open(path).map_err(path_err("opening the destination root"))?;
        let real = berth_safepath::fd_real_path(root.as_fd())
            .map_err(path_err("opening the destination root"))?;
        Ok(DestRoot {
            root,
            real,
            rootless: !rustix::process::geteuid().is_root(),
        })
    }

    pub fn err(&self, path: &Path, what: &'static str, e: Errno) -> BuildError {
        BuildError::Io {
            op: what,
            path: self
                .root
                .path()
                .join(path.strip_prefix("/").unwrap_or(path)),
            source: errno_io(e),
        }
    }

    fn chown_ok(&self, r: std::result::Result<(), Errno>) -> std::result::Result<(), Errno> {
        match r {
            Err(Errno::PERM | Errno::INVAL) if self.rootless => Ok(()),
            r => r,
        }
    }

    /// O_PATH fd of `path` (absolute in the image) if it exists, symlinks
    /// followed inside the root; with its file type.
    pub fn lookup(&self, path: &Path) -> Result<Option<(OwnedFd, FileType)>> {
        match self.root.resolve(path) {
            Ok(fd) => {
                let st = fstat(&fd).map_err(|e| self.err(path, "stat", e))?;
                Ok(Some((fd, FileType::from_raw_mode(st.st_mode))))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT)) => Ok(None),
            Err(e) => Err(path_err(format!(
                "resolving {} in the image",
                path.display()
            ))(e)),
        }
    }

    /// Where a single-file destination really is: a symlink in its last
    /// component is followed (inside the root, dangling or not), as Docker
    /// resolves the destination of a COPY of one file: `COPY py /usr/bin/python`
    /// with `python -> python3` replaces python3 and keeps the link.
    pub fn follow_final(&self, path: &Path) -> Result<PathBuf> {
        let mut cur = path.to_path_buf();
        for _ in 0..40 {
            let Some(name) = cur.file_name().map(OsStr::to_os_string) else {
                return Ok(cur);
            };
            let parent = cur.parent().unwrap_or(Path::new("/")).to_path_buf();
            let Some((pfd, FileType::Directory)) = self.lookup(&parent)? else {
                return Ok(cur);
            };
            let target = match rustix::fs::readlinkat(&pfd, &name, Vec::new()) {
                Ok(t) => t,
                Err(Errno::INVAL | Errno::NOENT) => return Ok(cur),
                Err(e) => return Err(self.err(&cur, "reading symlink", e)),
            };
            let target = String::from_utf8_lossy(target.as_bytes()).into_owned();
            let parent_real = berth_safepath::fd_real_path(pfd.as_fd())
                .map_err(path_err(format!("resolving {}", parent.display())))?;
            let parent_in = parent_real
                .strip_prefix(&self.real)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let joined = if target.starts_with('/') {
                target
            } else {
                format!("/{parent_in}/{target}")
            };
            cur = PathBuf::from(crate::pattern::clean(&format!("/{joined}")));
        }
        Err(self.err(path, "resolving", Errno::LOOP))
    }

    /// Make sure directory `path` exists. Directories created here get
    /// `mode` and `owner` (umask does not apply); existing ones are left as
    /// they are. Returns an O_PATH fd of it.
    pub fn mkdir_all(&self, path: &Path, mode: u32, owner: Owner) -> Result<OwnedFd> {
        let mut cur = PathBuf::from("/");
        let mut fd = self
            .root
            .resolve(&cur)
            .map_err(path_err("resolving / of the image"))?;
        for comp in path.components() {
            let Component::Normal(name) = comp else {
                continue;
            };
            cur.push(name);
            match self.lookup(&cur)? {
                Some((next, FileType::Directory)) => fd = next,
                Some(_) => {
                    return Err(BuildError::Destination {
                        dest: cur.display().to_string(),
                        why: "it exists in the image and is not a directory".into(),
                    })
                }
                None => {
                    match mkdirat(&fd, name, Mode::from_bits_truncate(mode)) {
                        Ok(()) => {
                            let d = openat(
                                &fd,
                                name,
                                OFlags::RDONLY
                                    | OFlags::DIRECTORY
                                    | OFlags::NOFOLLOW
                                    | OFlags::CLOEXEC,
                                Mode::empty(),
                            )
                            .map_err(|e| self.err(&cur, "opening new directory", e))?;
                            self.chown_ok(fchown(
                                &d,
                                Some(Uid::from_raw(owner.uid)),
                                Some(Gid::from_raw(owner.gid)),
                            ))
                            .map_err(|e| self.err(&cur, "chown", e))?;
                            fchmod(&d, Mode::from_bits_truncate(mode))
                                .map_err(|e| self.err(&cur, "chmod", e))?;
                        }
                        // A dangling symlink: create its target, inside the root.
                        Err(Errno::EXIST) => {
                            self.root
                                .mkdir_all(&cur, mode)
                                .map_err(path_err(format!("creating {}", cur.display())))?;
                        }
                        Err(e) => return Err(self.err(&cur, "mkdir", e)),
                    }
                    fd = self
                        .root
                        .resolve(&cur)
                        .map_err(path_err(format!("resolving {}", cur.display())))?;
                }
            }
        }
        Ok(fd)
    }

    /// Parent directory of `path` (created as by [`mkdir_all`] with
    /// [`PARENT_MODE`]) and its last component.
    pub fn parent<'p>(&self, path: &'p Path, owner: Owner) -> Result<(OwnedFd, &'p OsStr)> {
        let name = path.file_name().ok_or_else(|| BuildError::Destination {
            dest: path.display().to_string(),
            why: "it names the root directory, not a file".into(),
        })?;
        let parent = path.parent().unwrap_or(Path::new("/"));
        Ok((self.mkdir_all(parent, PARENT_MODE, owner)?, name))
    }

    /// Remove a non-directory at `name`; a directory there is an error unless
    /// `dir_ok`, in which case `true` says one is there.
    pub fn clear(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        dir_ok: bool,
    ) -> Result<bool> {
        match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(self.err(path, "stat", e)),
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                if dir_ok {
                    Ok(true)
                } else {
                    Err(BuildError::Destination {
                        dest: path.display().to_string(),
                        why: "a directory is there; a file cannot replace it".into(),
                    })
                }
            }
            Ok(_) => {
                unlinkat(dir, name, AtFlags::empty())
                    .map_err(|e| self.err(path, "removing the old entry", e))?;
                Ok(false)
            }
        }
    }

    /// Write a regular file from `src`, then owner, mode and times.
    pub fn write_file(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        src: &mut dyn io::Read,
        attrs: Attrs,
    ) -> Result<u64> {
        self.clear(dir, name, path, false)?;
        let fd = openat(
            dir,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| self.err(path, "creating", e))?;
        let mut f = std::fs::File::from(fd);
        let n = io::copy(src, &mut f).map_err(|e| BuildError::Io {
            op: "writing",
            path: self
                .root
                .path()
                .join(path.strip_prefix("/").unwrap_or(path)),
            source: e,
        })?;
        self.finish(f.as_fd(), path, attrs)?;
        Ok(n)
    }

    /// Owner, then mode (chown clears setuid), then times, on an open fd.
    pub fn finish(&self, fd: BorrowedFd<'_>, path: &Path, attrs: Attrs) -> Result<()> {
        let Attrs { mode, owner, times } = attrs;
        self.chown_ok(fchown(
            fd,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        ))
        .map_err(|e| self.err(path, "chown", e))?;
        fchmod(fd, Mode::from_bits_truncate(mode)).map_err(|e| self.err(path, "chmod", e))?;
        if let Some((a, m)) = times {
            futimens(
                fd,
                &Timestamps {
                    last_access: a,
                    last_modification: m,
                },
            )
            .map_err(|e| self.err(path, "setting times", e))?;
        }
        Ok(())
    }

    /// Create (or keep) directory `name`; a new one gets `mode`, `owner`
    /// (times are set later, after its content). Returns whether it was new.
    pub fn make_dir(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        mode: u32,
        owner: Owner,
    ) -> Result<bool> {
        // An existing symlink to a directory (inside the root) is kept and
        // written through, as Docker does: merged-/usr images have /lib ->
        // usr/lib, and `COPY rootfs/ /` must not replace that link.
        if let Ok(st) = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            if FileType::from_raw_mode(st.st_mode) == FileType::Symlink
                && matches!(self.lookup(path)?, Some((_, FileType::Directory)))
            {
                return Ok(false);
            }
        }
        if self.clear(dir, name, path, true)? {
            return Ok(false);
        }
        mkdirat(dir, name, Mode::from_bits_truncate(0o700))
            .map_err(|e| self.err(path, "mkdir", e))?;
        let d = openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| self.err(path, "opening new directory", e))?;
        self.finish(
            d.as_fd(),
            path,
            Attrs {
                mode,
                owner,
                times: None,
            },
        )?;
        Ok(true)
    }

    pub fn symlink(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        target: &OsStr,
        owner: Owner,
        times: Option<Times>,
    ) -> Result<()> {
        self.clear(dir, name, path, false)?;
        symlinkat(target, dir, name).map_err(|e| self.err(path, "creating symlink", e))?;
        self.chown_ok(rustix::fs::chownat(
            dir,
            name,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ))
        .map_err(|e| self.err(path, "chown", e))?;
        if let Some((a, m)) = times {
            utimensat(
                dir,
                name,
                &Timestamps {
                    last_access: a,
                    last_modification: m,
                },
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| self.err(path, "setting times", e))?;
        }
        Ok(())
    }

    pub fn hardlink(
        &self,
        from_dir: BorrowedFd<'_>,
        from: &OsStr,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
    ) -> Result<()> {
        self.clear(dir, name, path, false)?;
        linkat(from_dir, from, dir, name, AtFlags::empty())
            .map_err(|e| self.err(path, "hard linking", e))
    }

    /// A fifo or device node like the source's `st_mode`/`rdev`.
    pub fn node(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        ft: FileType,
        rdev: u64,
        attrs: Attrs,
    ) -> Result<()> {
        let Attrs { mode, owner, .. } = attrs;
        self.clear(dir, name, path, false)?;
        mknodat(dir, name, ft, Mode::from_bits_truncate(mode), rdev)
            .map_err(|e| self.err(path, "mknod", e))?;
        self.chown_ok(rustix::fs::chownat(
            dir,
            name,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        ))
        .map_err(|e| self.err(path, "chown", e))?;
        rustix::fs::chmodat(dir, name, Mode::from_bits_truncate(mode), AtFlags::empty())
            .map_err(|e| self.err(path, "chmod", e))
    }

    /// Set a directory's times (after its content is written).
    pub fn dir_times(&self, path: &Path, times: Times) -> Result<()> {
        let fd = self
            .root
            .open_at(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                0,
            )
            .map_err(path_err(format!("opening {}", path.display())))?;
        futimens(
            &fd,
            &Timestamps {
                last_access: times.0,
                last_modification: times.1,
            },
        )
        .map_err(|e| self.err(path, "setting times", e))
    }
}
