//! `cp` between a container and the host, and `export`. Container paths are resolved
//! inside the container's root (symlinks cannot lead out of it); the container is
//! frozen while its files are read or written.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_safepath::Root;

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};
use crate::fscopy::{self, Owner};

fn root_err(path: &str, e: berth_safepath::SafePathError) -> EngineError {
    EngineError::invalid(format!("container path {path}"), e.to_string())
}

/// `/x/.` asks for the directory's contents rather than the directory itself.
fn wants_contents(p: &str) -> bool {
    p.ends_with("/.") || p == "."
}

fn base_name(p: &Path) -> Result<std::ffi::OsString> {
    p.file_name()
        .map(|n| n.to_os_string())
        .ok_or_else(|| EngineError::invalid(format!("path {}", p.display()), "it has no file name"))
}

/// Resolves `path` inside the container root to a real host path that stays inside
/// the root (the fd's magic link target, after in-root symlink resolution).
fn resolve_in(root: &Root, path: &str) -> Result<PathBuf> {
    let fd = root
        .resolve(Path::new(path))
        .map_err(|e| root_err(path, e))?;
    berth_safepath::fd_real_path(fd.as_fd()).map_err(|e| root_err(path, e))
}

impl Engine {
    /// Container → host. `dest` "-" writes a tar stream to `out`.
    pub fn copy_from(&self, key: &str, src: &str, dest: &str, out: impl Write) -> Result<()> {
        let c = self.find(key)?;
        let access = self.access_rootfs(&c, true)?;
        let root = Root::open(&access.rootfs).map_err(|e| root_err("/", e))?;
        let real = resolve_in(&root, src)?;
        let md = fs::symlink_metadata(&real).ctx(|| format!("stat {src} in the container"))?;
        if dest == "-" {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            let name: PathBuf = if wants_contents(src) {
                PathBuf::from(".")
            } else {
                PathBuf::from(
                    base_name(Path::new(src.trim_end_matches('/'))).unwrap_or_else(|_| ".".into()),
                )
            };
            if md.is_dir() {
                b.append_dir_all(&name, &real)
            } else {
                b.append_path_with_name(&real, &name)
            }
            .ctx(|| format!("archiving {src}"))?;
            b.finish().ctx(|| format!("archiving {src}"))?;
            return Ok(());
        }
        let dest_path = Path::new(dest);
        if md.is_dir() {
            if dest_path.exists() && !dest_path.is_dir() {
                return Err(EngineError::invalid(
                    format!("destination {dest}"),
                    "cannot copy a directory to a file",
                ));
            }
            let target = if !dest_path.exists() {
                fs::create_dir(dest_path).ctx(|| format!("creating {dest}"))?;
                dest_path.to_path_buf()
            } else if wants_contents(src) {
                dest_path.to_path_buf()
            } else {
                let t = dest_path.join(base_name(&real)?);
                if !t.exists() {
                    fs::create_dir(&t).ctx(|| format!("creating {}", t.display()))?;
                }
                t
            };
            return fscopy::copy_tree(&real, &target, Owner::Caller);
        }
        if dest.ends_with('/') && !dest_path.is_dir() {
            return Err(EngineError::invalid(
                format!("destination {dest}"),
                "the destination directory does not exist",
            ));
        }
        let target = if dest_path.is_dir() {
            dest_path.join(base_name(&real)?)
        } else {
            dest_path.to_path_buf()
        };
        fscopy::copy_entry(&real, &target, Owner::Caller)
    }

    /// Host → container. `src` "-" reads a tar stream from `input` into the
    /// container directory `dest`. Copied files belong to root unless `archive`
    /// (`cp -a`) keeps their owners.
    pub fn copy_to(
        &self,
        key: &str,
        src: &str,
        dest: &str,
        input: impl Read,
        archive: bool,
    ) -> Result<()> {
        let c = self.find(key)?;
        let access = self.access_rootfs(&c, true)?;
        let root = Root::open(&access.rootfs).map_err(|e| root_err("/", e))?;
        if src == "-" {
            let dir = resolve_in(&root, dest)?;
            if !dir.is_dir() {
                return Err(EngineError::invalid(
                    format!("destination {dest}"),
                    "extracting a tar stream needs an existing directory in the container",
                ));
            }
            berth_image::layer::extract(
                input,
                &dir,
                &berth_image::layer::ExtractOptions {
                    whiteouts: berth_image::layer::WhiteoutMode::Apply,
                    ..Default::default()
                },
            )
            .map_err(|e| EngineError::invalid(format!("tar stream for {dest}"), e.to_string()))?;
            return Ok(());
        }
        let src_path = Path::new(src);
        let md = fs::symlink_metadata(src_path).ctx(|| format!("stat {src}"))?;
        let owner = if archive {
            Owner::Keep
        } else {
            Owner::Set(0, 0)
        };
        let existing = resolve_in(&root, dest).ok();
        let target = match existing {
            Some(d) if d.is_dir() => {
                if md.is_dir() && wants_contents(src) {
                    return fscopy::copy_tree(src_path, &d, owner);
                }
                d.join(base_name(src_path)?)
            }
            Some(f) => {
                if md.is_dir() {
                    return Err(EngineError::invalid(
                        format!("destination {dest}"),
                        "cannot copy a directory to a file",
                    ));
                }
                f
            }
            None => {
                if dest.ends_with('/') {
                    return Err(EngineError::invalid(
                        format!("destination {dest}"),
                        "the destination directory does not exist",
                    ));
                }
                let dp = Path::new(dest);
                let parent = dp
                    .parent()
                    .map_or("/".into(), |p| p.to_string_lossy().into_owned());
                let parent = resolve_in(&root, if parent.is_empty() { "/" } else { &parent })?;
                parent.join(base_name(dp)?)
            }
        };
        fscopy::copy_entry(src_path, &target, owner)
    }

    /// `export`: the container's filesystem as a tar stream.
    pub fn export(&self, key: &str, out: impl Write) -> Result<()> {
        let c = self.find(key)?;
        let access = self.access_rootfs(&c, true)?;
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        b.append_dir_all(".", &access.rootfs)
            .ctx(|| format!("exporting container {}", c.short_id()))?;
        b.finish()
            .ctx(|| format!("exporting container {}", c.short_id()))?;
        Ok(())
    }
}
