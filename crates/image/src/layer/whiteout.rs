//! Whiteouts: `.wh.<name>` hides `<name>` of lower layers, `.wh..wh..opq`
//! hides everything lower layers put in its directory.
//!
//! berth keeps each layer in its own directory and stacks them with
//! overlayfs, so by default a whiteout becomes what overlayfs understands
//! (`WhiteoutMode::Overlay`): a 0/0 character device, and the
//! `trusted.overlay.opaque=y` xattr on an opaque directory. Rootless, where
//! mknod of a device is refused, the xattr forms of recent kernels are used
//! instead (an empty file with `user.overlay.whiteout`, parent marked with
//! `user.overlay.whiteouts`; `user.overlay.opaque=y`). `WhiteoutMode::Apply`
//! instead deletes from `dest`, for flattening layers onto one copy.
//! Whiteouts never remove what the same layer created.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_safepath::OFlags;
use rustix::fs::{mknodat, openat, statat, AtFlags, FileType, Mode};
use rustix::io::Errno;

use super::error::LayerError;
use super::extract::{clear_dir, Extractor};
use super::xattr;

pub(crate) const PREFIX: &[u8] = b".wh.";
pub(crate) const OPAQUE: &[u8] = b".wh..wh..opq";
/// AUFS bookkeeping (`.wh..wh.plnk`, `.wh..wh.aufs`): not whiteouts.
const AUFS_META: &[u8] = b".wh..wh.";

pub(crate) const OVERLAY_OPAQUE: &[u8] = b"trusted.overlay.opaque";
pub(crate) const USER_OPAQUE: &[u8] = b"user.overlay.opaque";
pub(crate) const USER_WHITEOUT: &[u8] = b"user.overlay.whiteout";
pub(crate) const TRUSTED_WHITEOUT: &[u8] = b"trusted.overlay.whiteout";
const USER_WHITEOUTS: &[u8] = b"user.overlay.whiteouts";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Turn whiteouts into overlayfs whiteouts in the layer's own directory.
    #[default]
    Overlay,
    /// Delete the whited-out paths from the destination.
    Apply,
    /// Not a layer (a build context, an `ADD` archive): `.wh.*` names are
    /// ordinary files, as `tar -x` would make them.
    Keep,
}

impl Extractor<'_> {
    /// `path` is the cleaned entry path, `name` its last component.
    pub(crate) fn whiteout(
        &mut self,
        path: &Path,
        name: &[u8],
        entry: &str,
    ) -> Result<(), LayerError> {
        let parent = path.parent().unwrap_or(Path::new(""));
        if name == OPAQUE {
            self.stats.whiteouts += 1;
            return self.opaque(parent, entry);
        }
        if name.starts_with(AUFS_META) {
            return Ok(());
        }
        let hidden = &name[PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(self.invalid(entry, "whiteout names no file"));
        }
        self.stats.whiteouts += 1;
        let target = parent.join(OsStr::from_bytes(hidden));
        match self.opts.whiteouts {
            super::WhiteoutMode::Keep => unreachable!("extract() keeps .wh. names as files"),
            super::WhiteoutMode::Overlay => self.overlay_whiteout(&target, entry),
            super::WhiteoutMode::Apply => {
                if self.created.contains(&target) {
                    return Ok(());
                }
                let dir = match self.root.resolve(parent) {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(self.path_err(entry)(e)),
                };
                let hidden = OsStr::from_bytes(hidden);
                self.remove_existing(dir.as_fd(), hidden, &target, entry)
            }
        }
    }

    fn overlay_whiteout(&mut self, target: &Path, entry: &str) -> Result<(), LayerError> {
        let (dir, name) = self.parent(target, entry)?;
        let mk = || mknodat(&*dir, name, FileType::CharacterDevice, Mode::empty(), 0);
        let r = match mk() {
            Err(Errno::EXIST) => {
                self.remove_existing(dir.as_fd(), name, target, entry)?;
                mk()
            }
            r => r,
        };
        match r {
            Ok(()) => Ok(()),
            Err(e @ (Errno::PERM | Errno::ACCESS)) => {
                if !self.opts.rootless {
                    return Err(LayerError::WhiteoutNotPermitted {
                        layer: self.layer.clone(),
                        entry: entry.to_string(),
                        source: e.into(),
                    });
                }
                let fd = openat(
                    &*dir,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(self.io(entry, "create xattr whiteout"))?;
                xattr::fset(&fd, USER_WHITEOUT, b"")
                    .map_err(self.io(entry, "set user.overlay.whiteout"))?;
                xattr::set_on_fd(dir.as_fd(), USER_WHITEOUTS, b"")
                    .map_err(self.io(entry, "set user.overlay.whiteouts on the parent"))
            }
            Err(e) => Err(self.io(entry, "mknod whiteout")(e)),
        }
    }

    fn opaque(&mut self, dir_path: &Path, entry: &str) -> Result<(), LayerError> {
        match self.opts.whiteouts {
            WhiteoutMode::Keep => unreachable!("extract() keeps .wh. names as files"),
            WhiteoutMode::Overlay => {
                let fd = self.dir_fd(dir_path, entry)?;
                let first = if self.opts.rootless {
                    USER_OPAQUE
                } else {
                    OVERLAY_OPAQUE
                };
                match xattr::set_on_fd(fd.as_fd(), first, b"y") {
                    Ok(()) => Ok(()),
                    Err(Errno::PERM | Errno::ACCESS) if !self.opts.rootless => {
                        Err(LayerError::WhiteoutNotPermitted {
                            layer: self.layer.clone(),
                            entry: entry.to_string(),
                            source: Errno::PERM.into(),
                        })
                    }
                    Err(e) => Err(self.io(entry, "set the opaque xattr")(e)),
                }
            }
            WhiteoutMode::Apply => {
                let dir = match self.root.resolve(dir_path) {
                    Ok(fd) => fd,
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                        return Ok(())
                    }
                    Err(e) => return Err(self.path_err(entry)(e)),
                };
                let st = rustix::fs::fstat(&dir).map_err(self.io(entry, "stat"))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    return Ok(());
                }
                let rd = openat(
                    &dir,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(self.io(entry, "open opaque directory"))?;
                // Save tar-split references and forget cached fds for what
                // is about to go; same-layer entries stay.
                let mut doomed = Vec::new();
                clear_dir(rd.as_fd(), |n| {
                    let p = dir_path.join(n);
                    if !self.created.contains(&p) {
                        doomed.push(p);
                    }
                    false
                })
                .map_err(self.io(entry, "list opaque directory"))?;
                for p in doomed {
                    let name = p.file_name().unwrap_or_default().to_os_string();
                    if statat(&rd, &name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                        self.remove_existing(rd.as_fd(), &name, &p, entry)?;
                    }
                }
                Ok(())
            }
        }
    }
}
