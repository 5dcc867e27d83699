//! Snapshots: a writable root filesystem made from an image's layers. The overlay driver
//! stacks the unpacked layer directories as lowerdirs under a private upper and work
//! dir; the copy driver (for filesystems where overlay cannot be mounted) copies the
//! layers into one directory, applying their whiteouts.
//!
//! overlayfs takes its options in one page (4096 bytes). Layer directories have short
//! fixed names and are passed relative to the layers directory (the mount is made with
//! that as the working directory), so even 128 layers fit.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{ImageError, IoContext, Result};
use crate::store::{ImageRecord, ImageStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Overlay,
    Copy,
}

pub struct Snapshot {
    pub key: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub driver: Driver,
}

const PAGE: usize = 4096;

impl ImageStore {
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root().join("snapshots")
    }

    /// Creates (or re-mounts) the snapshot `key` of `image` and returns its rootfs.
    pub fn mount_snapshot(
        &self,
        image: &ImageRecord,
        key: &str,
        driver: Option<Driver>,
    ) -> Result<Snapshot> {
        self.mount_snapshot_as(image, key, driver, false)
    }

    /// [`ImageStore::mount_snapshot`] for a snapshot that is thrown away after use (a
    /// `--rm` container's, a build step's): overlay's `volatile` option makes it
    /// ignore fsync and syncfs, so neither the container's fsyncs nor the unmount
    /// write back everything dirty on the file system under the store (an unmount of
    /// a plain overlay syncs that whole file system). After a crash such a snapshot
    /// cannot be mounted again, which for these makes no difference. Kernels before
    /// 5.10 do not know the option and get a plain mount.
    pub fn mount_volatile_snapshot(&self, image: &ImageRecord, key: &str) -> Result<Snapshot> {
        self.mount_snapshot_as(image, key, None, true)
    }

    fn mount_snapshot_as(
        &self,
        image: &ImageRecord,
        key: &str,
        driver: Option<Driver>,
        volatile: bool,
    ) -> Result<Snapshot> {
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            return Err(ImageError::Invalid {
                what: format!("snapshot key {key:?}"),
                why: "use letters, digits, - and _".into(),
            });
        }
        let dir = self.snapshots_dir().join(key);
        let rootfs = dir.join("merged");
        if is_mountpoint(&rootfs) {
            return Ok(Snapshot {
                key: key.to_string(),
                dir,
                rootfs,
                driver: Driver::Overlay,
            });
        }
        for sub in ["upper", "work", "merged"] {
            fs::create_dir_all(dir.join(sub))
                .ctx(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let mut lowers = Vec::new();
        for chain in image.layers.iter().rev() {
            let l = self.layer(chain)?.ok_or_else(|| ImageError::Invalid {
                what: format!("image {}", image.short_id()),
                why: format!("layer {chain} is missing from the store"),
            })?;
            lowers.push(format!("{}/diff", l.dir));
        }
        let driver = driver.unwrap_or_else(default_driver);
        if driver == Driver::Overlay {
            let mounted = match self.mount_overlay(&dir, &lowers, volatile) {
                Err(ImageError::Mount { .. }) if volatile => {
                    self.mount_overlay(&dir, &lowers, false)
                }
                other => other,
            };
            match mounted {
                Ok(()) => {
                    return Ok(Snapshot {
                        key: key.to_string(),
                        dir,
                        rootfs,
                        driver,
                    })
                }
                Err(e) if overlay_unavailable(&e) => {}
                Err(e) => return Err(e),
            }
        }
        self.copy_layers(&lowers, &rootfs)?;
        Ok(Snapshot {
            key: key.to_string(),
            dir,
            rootfs,
            driver: Driver::Copy,
        })
    }

    fn mount_overlay(&self, dir: &Path, lowers: &[String], volatile: bool) -> Result<()> {
        let merged = dir.join("merged");
        let mut data = String::from("lowerdir=");
        if lowers.is_empty() {
            // An image without layers (FROM scratch with nothing added).
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).ctx(|| format!("creating {}", empty.display()))?;
            data.push_str(&empty.to_string_lossy());
        } else {
            data.push_str(&lowers.join(":"));
        }
        data.push_str(&format!(
            ",upperdir={},workdir={}",
            dir.join("upper").display(),
            dir.join("work").display()
        ));
        if volatile {
            data.push_str(",volatile");
            // Left by an earlier volatile mount of this snapshot; overlay refuses to
            // mount while it is there. For a snapshot mounted volatile again that
            // warning has nothing to protect.
            let _ = fs::remove_dir_all(dir.join("work/work/incompat/volatile"));
        }
        if data.len() >= PAGE {
            return Err(ImageError::Mount {
                target: merged,
                why: format!(
                    "{} layers need {} bytes of overlay options, more than the kernel's {PAGE}",
                    lowers.len(),
                    data.len()
                ),
            });
        }
        // Relative lowerdirs resolve against the caller's working directory.
        let cwd = std::env::current_dir().ctx(|| "reading the working directory".into())?;
        std::env::set_current_dir(self.layers_dir())
            .ctx(|| format!("entering {}", self.layers_dir().display()))?;
        let data_c = std::ffi::CString::new(data.clone()).map_err(|_| ImageError::Mount {
            target: merged.clone(),
            why: "overlay options contain a NUL byte".into(),
        })?;
        let r = rustix::mount::mount(
            "overlay",
            &merged,
            "overlay",
            rustix::mount::MountFlags::empty(),
            Some(data_c.as_c_str()),
        );
        let _ = std::env::set_current_dir(cwd);
        r.map_err(|e| ImageError::Mount {
            target: merged.clone(),
            why: std::io::Error::from(e).to_string(),
        })
    }

    fn copy_layers(&self, lowers_top_first: &[String], target: &Path) -> Result<()> {
        for lower in lowers_top_first.iter().rev() {
            let src = self.layers_dir().join(lower);
            copy_layer(&src, target)?;
        }
        Ok(())
    }

    pub fn unmount_snapshot(&self, key: &str) -> Result<()> {
        unmount_merged(&self.snapshots_dir().join(key))
    }

    pub fn remove_snapshot(&self, key: &str) -> Result<()> {
        remove_snapshot_dir(&self.snapshots_dir().join(key))
    }

    /// Where the snapshot `key` lives, for [`remove_snapshot_dir`].
    pub fn snapshot_dir(&self, key: &str) -> PathBuf {
        self.snapshots_dir().join(key)
    }
}

/// Detaches the snapshot directory's `merged` mount, if it is mounted.
fn unmount_merged(dir: &Path) -> Result<()> {
    let merged = dir.join("merged");
    if is_mountpoint(&merged) {
        rustix::mount::unmount(&merged, rustix::mount::UnmountFlags::DETACH).map_err(|e| {
            ImageError::Mount {
                target: merged.clone(),
                why: std::io::Error::from(e).to_string(),
            }
        })?;
    }
    Ok(())
}

/// Unmounts and deletes a snapshot directory. It needs nothing but the path (no
/// store handle), so a caller may run it on another thread.
pub fn remove_snapshot_dir(dir: &Path) -> Result<()> {
    unmount_merged(dir)?;
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

fn default_driver() -> Driver {
    match std::env::var("BERTH_STORAGE_DRIVER").as_deref() {
        Ok("copy") | Ok("vfs") => Driver::Copy,
        _ => Driver::Overlay,
    }
}

fn overlay_unavailable(e: &ImageError) -> bool {
    matches!(e, ImageError::Mount { why, .. } if why.contains("No such device") || why.contains("Operation not permitted") || why.contains("Invalid argument"))
}

pub fn is_mountpoint(p: &Path) -> bool {
    let (Ok(a), Ok(b)) = (fs::metadata(p), fs::metadata(p.join(".."))) else {
        return false;
    };
    a.dev() != b.dev() || a.ino() == b.ino()
}

/// Copies one unpacked layer over `target`, turning overlay whiteouts (0/0 character
/// devices) into deletions and opaque directories into emptied ones.
fn copy_layer(src: &Path, target: &Path) -> Result<()> {
    let opaque = xattr_is_set(src, "trusted.overlay.opaque");
    if opaque && target.exists() {
        for e in fs::read_dir(target).ctx(|| format!("reading {}", target.display()))? {
            let e = e.ctx(|| format!("reading {}", target.display()))?;
            remove_any(&e.path())?;
        }
    }
    for entry in fs::read_dir(src).ctx(|| format!("reading {}", src.display()))? {
        let entry = entry.ctx(|| format!("reading {}", src.display()))?;
        let meta = entry
            .metadata()
            .ctx(|| format!("stat {}", entry.path().display()))?;
        let dst = target.join(entry.file_name());
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            remove_any(&dst)?;
            continue;
        }
        if ft.is_dir() {
            if fs::symlink_metadata(&dst)
                .map(|m| !m.is_dir())
                .unwrap_or(false)
            {
                remove_any(&dst)?;
            }
            if !dst.exists() {
                fs::create_dir(&dst).ctx(|| format!("creating {}", dst.display()))?;
            }
            copy_layer(&entry.path(), &dst)?;
            copy_attrs(&meta, &dst)?;
            continue;
        }
        if fs::symlink_metadata(&dst).is_ok() {
            remove_any(&dst)?;
        }
        if ft.is_symlink() {
            let t = fs::read_link(entry.path())
                .ctx(|| format!("readlink {}", entry.path().display()))?;
            std::os::unix::fs::symlink(t, &dst).ctx(|| format!("symlink {}", dst.display()))?;
        } else if ft.is_file() {
            fs::copy(entry.path(), &dst).ctx(|| format!("copying {}", entry.path().display()))?;
        } else {
            let kind = if ft.is_block_device() {
                rustix::fs::FileType::BlockDevice
            } else if ft.is_char_device() {
                rustix::fs::FileType::CharacterDevice
            } else if ft.is_fifo() {
                rustix::fs::FileType::Fifo
            } else {
                continue;
            };
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &dst,
                kind,
                rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
                meta.rdev(),
            )
            .map_err(std::io::Error::from)
            .ctx(|| format!("mknod {}", dst.display()))?;
        }
        copy_attrs(&meta, &dst)?;
    }
    Ok(())
}

fn copy_attrs(meta: &fs::Metadata, dst: &Path) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
        .ctx(|| format!("chown {}", dst.display()))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(
            dst,
            std::os::unix::fs::PermissionsExt::from_mode(meta.mode() & 0o7777),
        )
        .ctx(|| format!("chmod {}", dst.display()))?;
    }
    Ok(())
}

fn remove_any(p: &Path) -> Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p).ctx(|| format!("removing {}", p.display())),
        Ok(_) => fs::remove_file(p).ctx(|| format!("removing {}", p.display())),
        Err(_) => Ok(()),
    }
}

fn xattr_is_set(p: &Path, name: &str) -> bool {
    let mut buf = [0u8; 8];
    rustix::fs::lgetxattr(p, OsStr::new(name), &mut buf).is_ok_and(|n| n > 0 && buf[0] == b'y')
}
