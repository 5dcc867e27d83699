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

/// Resolves `path` inside `root` to a real host path that stays inside it (the fd's
/// magic link target, after in-root symlink resolution).
/// `path` inside `root`; with `follow` false a symlink in the last component is
/// the link itself.
fn resolve_in(root: &Root, path: &str, follow: bool) -> Result<PathBuf> {
    let fd = if follow {
        root.resolve(Path::new(path))
    } else {
        root.resolve_nofollow(Path::new(path))
    }
    .map_err(|e| root_err(path, e))?;
    berth_safepath::fd_real_path(fd.as_fd()).map_err(|e| root_err(path, e))
}

/// The container's files as `cp` sees them: its root filesystem, with its volumes
/// and bind mounts over it (a path under a mount's destination resolves inside
/// that mount's source instead, as in the running container).
struct ContainerFs {
    root: Root,
    mounts: Vec<(PathBuf, PathBuf)>,
}

/// `path` with `.` and `..` folded lexically (never above `/`).
fn normalize(path: &str) -> PathBuf {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    PathBuf::from(format!("/{}", parts.join("/")))
}

impl ContainerFs {
    fn open(engine: &Engine, c: &crate::records::Container, rootfs: &Path) -> Result<ContainerFs> {
        let root = Root::open(rootfs).map_err(|e| root_err("/", e))?;
        let vdir = engine.layout().volumes_dir();
        let mut mounts: Vec<(PathBuf, PathBuf)> = c
            .settings
            .volume_mounts
            .iter()
            .map(|v| {
                (
                    normalize(&v.destination),
                    crate::volumes::data_dir(&vdir, &v.name),
                )
            })
            .collect();
        mounts.extend(
            c.settings
                .host_config
                .mounts
                .iter()
                .filter(|m| m.kind == crate::model::MountType::Bind)
                .map(|m| (normalize(&m.target), PathBuf::from(&m.source))),
        );
        // Longest destination first, so a mount inside a mount wins.
        mounts.sort_by_key(|(d, _)| std::cmp::Reverse(d.as_os_str().len()));
        Ok(ContainerFs { root, mounts })
    }

    fn resolve(&self, path: &str) -> Result<PathBuf> {
        self.resolve_with(path, true)
    }

    /// [`ContainerFs::resolve`]; with `follow` false a symlink named last is the link.
    fn resolve_with(&self, path: &str, follow: bool) -> Result<PathBuf> {
        let p = normalize(path);
        for (dest, src) in &self.mounts {
            if let Ok(rest) = p.strip_prefix(dest) {
                let r = Root::open(src).map_err(|e| root_err(path, e))?;
                let rest = rest.to_string_lossy();
                return resolve_in(&r, if rest.is_empty() { "/" } else { &rest }, follow);
            }
        }
        resolve_in(&self.root, path, follow)
    }
}

impl Engine {
    /// Container → host. `dest` "-" writes a tar stream to `out`. A symlink named
    /// by `src` is copied as a link, unless `follow_link` (`cp -L`) or `src` ends
    /// with `/` or `/.`, as with Docker.
    pub fn copy_from(
        &self,
        key: &str,
        src: &str,
        dest: &str,
        out: impl Write,
        follow_link: bool,
    ) -> Result<()> {
        let c = self.find(key)?;
        let access = self.access_rootfs(&c, true)?;
        let cfs = ContainerFs::open(self, &c, &access.rootfs)?;
        let follow = follow_link || src.ends_with('/') || src.ends_with("/.");
        let real = cfs.resolve_with(src, follow)?;
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
    /// (`cp -a`) keeps their owners. A symlink `src` is copied as a link, unless
    /// `follow_link` (`cp -L`): then what it points to, under the link's name.
    pub fn copy_to(
        &self,
        key: &str,
        src: &str,
        dest: &str,
        input: impl Read,
        archive: bool,
        follow_link: bool,
    ) -> Result<()> {
        let c = self.find(key)?;
        let access = self.access_rootfs(&c, true)?;
        let cfs = ContainerFs::open(self, &c, &access.rootfs)?;
        if src == "-" {
            let dir = cfs.resolve(dest)?;
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
        let copied = if follow_link {
            fs::canonicalize(src_path).ctx(|| format!("following {src}"))?
        } else {
            src_path.to_path_buf()
        };
        let md = fs::symlink_metadata(&copied).ctx(|| format!("stat {src}"))?;
        let owner = if archive {
            Owner::Keep
        } else {
            Owner::Set(0, 0)
        };
        let existing = cfs.resolve(dest).ok();
        let target = match existing {
            Some(d) if d.is_dir() => {
                if md.is_dir() && wants_contents(src) {
                    return fscopy::copy_tree(&copied, &d, owner);
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
                let parent = cfs.resolve(if parent.is_empty() { "/" } else { &parent })?;
                parent.join(base_name(dp)?)
            }
        };
        fscopy::copy_entry(&copied, &target, owner)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fold_lexically_inside_the_root() {
        assert_eq!(normalize("/a/./b/../c"), PathBuf::from("/a/c"));
        assert_eq!(normalize("../../etc"), PathBuf::from("/etc"));
        assert_eq!(normalize("data"), PathBuf::from("/data"));
        assert_eq!(normalize("/"), PathBuf::from("/"));
    }
}
