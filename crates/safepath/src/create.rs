//! Creating things inside a `Root`: directories, empty files (bind-mount
//! targets), device nodes and symlinks.
//!
//! openat2 cannot create directories, so missing directories are always made
//! by the walk (see walk.rs for why it stays inside). The final entry is then
//! created with a single-component *at() call relative to a directory fd that
//! is already inside the root, never following a symlink at that name.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{fstat, makedev, mknodat, openat, readlinkat, symlinkat, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Cause, FResult, Fail, Op, SafePathError};
use crate::openat2;
use crate::root::{Resolver, Root};
use crate::walk::{self, WalkMode};

/// Mode for parent directories created on the way to a file, device or
/// symlink; matches what runc uses for mount targets.
const PARENT_MODE: u32 = 0o755;

/// Kind of special file for [`Root::mknod`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Char,
    Block,
    Fifo,
}

impl NodeKind {
    fn file_type(self) -> FileType {
        match self {
            NodeKind::Char => FileType::CharacterDevice,
            NodeKind::Block => FileType::BlockDevice,
            NodeKind::Fifo => FileType::Fifo,
        }
    }
}

fn type_name(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "file of unknown type",
    }
}

fn open_nofollow(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl Root {
    /// Create missing directories (with `mode`, subject to umask) so that
    /// `path` exists inside the root, following existing symlinks inside the
    /// root (a dangling one gets its target created, inside the root).
    /// Returns an O_PATH fd of the final directory. Fails if a component
    /// exists and is not a directory.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> Result<OwnedFd, SafePathError> {
        self.mkdir_all_inner(path, mode)
            .map_err(self.err(Op::MkdirAll, path))
    }

    fn mkdir_all_inner(&self, path: &Path, mode: u32) -> FResult<OwnedFd> {
        if self.resolver() == Resolver::Openat2 {
            // Common case: it already exists.
            if let Ok(fd) = openat2::open(
                self.as_fd(),
                path,
                OFlags::PATH | OFlags::DIRECTORY,
                Mode::empty(),
            ) {
                return Ok(fd);
            }
        }
        let mode = Mode::from_bits_truncate(mode);
        let w = walk::walk(self.as_fd(), path, WalkMode::CreateDirs(mode))?;
        self.verify(w.dir)
    }

    /// Parent directory (created if needed) and final name of `path`.
    fn prepare_parent<'p>(&self, path: &'p Path) -> FResult<(OwnedFd, &'p OsStr)> {
        let Some((parent, name)) = walk::split_last(path) else {
            return Err(Fail::new(
                Cause::Invalid("it has no final component to create"),
                Errno::INVAL,
            ));
        };
        if walk::wants_dir(path) {
            return Err(Fail::new(
                Cause::Invalid("a trailing '/' names a directory"),
                Errno::ISDIR,
            ));
        }
        Ok((self.mkdir_all_inner(parent, PARENT_MODE)?, name))
    }

    /// Create an empty regular file at `path` unless something is already
    /// there, creating parent directories as needed, and return an O_PATH fd
    /// of it. Meant for bind-mount targets of files. Never truncates and
    /// never follows a symlink in the last component: an existing symlink
    /// there is an error (ELOOP), as is a directory (EISDIR). Other existing
    /// non-directories (e.g. /dev/null) are returned as they are.
    pub fn create_file(&self, path: &Path, mode: u32) -> Result<OwnedFd, SafePathError> {
        self.create_file_inner(path, mode)
            .map_err(self.err(Op::CreateFile, path))
    }

    fn create_file_inner(&self, path: &Path, mode: u32) -> FResult<OwnedFd> {
        let (dir, name) = self.prepare_parent(path)?;
        // Look before creating so an existing target works on a read-only
        // filesystem. O_EXCL creates only if still missing (and refuses a
        // dangling symlink); O_RDONLY|O_NONBLOCK|O_NOCTTY because the fd is
        // thrown away and nothing may block or become our tty.
        let mut created = false;
        let fd = loop {
            match open_nofollow(dir.as_fd(), name) {
                Ok(fd) => break fd,
                Err(Errno::NOENT) if !created => {}
                Err(e) => return Err(Fail::new(Cause::IoAt(name.to_os_string()), e)),
            }
            match openat(
                &dir,
                name,
                OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::RDONLY
                    | OFlags::NONBLOCK
                    | OFlags::NOCTTY
                    | OFlags::CLOEXEC,
                Mode::from_bits_truncate(mode),
            ) {
                Ok(_) | Err(Errno::EXIST) => created = true,
                Err(e) => return Err(Fail::new(Cause::IoAt(name.to_os_string()), e)),
            }
        };
        // Judge what is there now, whoever put it there.
        match FileType::from_raw_mode(fstat(&fd)?.st_mode) {
            FileType::Symlink => Err(Fail::new(
                Cause::IsSymlink(name.to_os_string()),
                Errno::LOOP,
            )),
            FileType::Directory => Err(Fail::new(
                Cause::Exists("as a directory, not a file".into()),
                Errno::ISDIR,
            )),
            // No verify: `dir` is already checked and one NOFOLLOW step
            // below it cannot leave it.
            _ => Ok(fd),
        }
    }

    /// Create a device node or fifo, creating parent directories. An existing
    /// node of the same kind and device number is accepted, so this is
    /// idempotent; anything else already there is an error.
    pub fn mknod(
        &self,
        path: &Path,
        kind: NodeKind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), SafePathError> {
        self.mknod_inner(path, kind, mode, major, minor)
            .map_err(self.err(Op::Mknod, path))
    }

    fn mknod_inner(
        &self,
        path: &Path,
        kind: NodeKind,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> FResult<()> {
        let (dir, name) = self.prepare_parent(path)?;
        let ft = kind.file_type();
        let dev = if kind == NodeKind::Fifo {
            0
        } else {
            makedev(major, minor)
        };
        match mknodat(&dir, name, ft, Mode::from_bits_truncate(mode), dev) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let st = fstat(open_nofollow(dir.as_fd(), name)?)?;
                let have = FileType::from_raw_mode(st.st_mode);
                if have == ft && (kind == NodeKind::Fifo || st.st_rdev == dev) {
                    Ok(())
                } else {
                    Err(Fail::new(
                        Cause::Exists(format!(
                            "as a {}{}, wanted {} {}:{}",
                            type_name(have),
                            if have == ft {
                                " with another device number"
                            } else {
                                ""
                            },
                            type_name(ft),
                            major,
                            minor
                        )),
                        Errno::EXIST,
                    ))
                }
            }
            Err(e) => Err(Fail::new(Cause::IoAt(name.to_os_string()), e)),
        }
    }

    /// Create symlink `link` (inside the root, parents created) pointing to
    /// `target`, stored verbatim. An identical existing link is fine.
    pub fn symlink(&self, target: &Path, link: &Path) -> Result<(), SafePathError> {
        self.symlink_inner(target, link)
            .map_err(self.err(Op::Symlink, link))
    }

    fn symlink_inner(&self, target: &Path, link: &Path) -> FResult<()> {
        let (dir, name) = self.prepare_parent(link)?;
        match symlinkat(target, &dir, name) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => match readlinkat(&dir, name, Vec::new()) {
                Ok(t) if t.as_bytes() == target.as_os_str().as_encoded_bytes() => Ok(()),
                Ok(t) => Err(Fail::new(
                    Cause::Exists(format!(
                        "as a symlink to '{}', wanted '{}'",
                        t.to_string_lossy(),
                        target.display()
                    )),
                    Errno::EXIST,
                )),
                Err(Errno::INVAL) => {
                    let st = fstat(open_nofollow(dir.as_fd(), name)?)?;
                    Err(Fail::new(
                        Cause::Exists(format!(
                            "as a {}, wanted a symlink to '{}'",
                            type_name(FileType::from_raw_mode(st.st_mode)),
                            target.display()
                        )),
                        Errno::EXIST,
                    ))
                }
                Err(e) => Err(Fail::new(Cause::IoAt(name.to_os_string()), e)),
            },
            Err(e) => Err(Fail::new(Cause::IoAt(name.to_os_string()), e)),
        }
    }
}
