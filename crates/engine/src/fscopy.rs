//! Copying trees the way `cp -a` does (files, directories, symlinks as symlinks,
//! modes), with the owner kept, set, or left to the caller. Used to populate volumes
//! and by `berth cp`. Symlinks are never followed below the starting point.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{IoContext, Result};

#[derive(Debug, Clone, Copy)]
pub enum Owner {
    /// Keep the source's uid/gid (volumes, `cp -a`).
    Keep,
    /// Set this uid/gid (Docker gives files copied into a container to root).
    Set(u32, u32),
    /// Leave new files owned by whoever copies (files copied out to the host).
    Caller,
}

fn own(p: &Path, md: &fs::Metadata, owner: Owner) -> Result<()> {
    let ids = match owner {
        Owner::Keep => Some((md.uid(), md.gid())),
        Owner::Set(u, g) => Some((u, g)),
        Owner::Caller => None,
    };
    if let Some((u, g)) = ids {
        std::os::unix::fs::lchown(p, Some(u), Some(g)).ctx(|| format!("chown {}", p.display()))?;
    }
    Ok(())
}

/// Copies one entry (file, directory tree or symlink) from `from` to `to`, which
/// must not exist (directories: may exist, contents merge).
pub fn copy_entry(from: &Path, to: &Path, owner: Owner) -> Result<()> {
    let md = fs::symlink_metadata(from).ctx(|| format!("stat {}", from.display()))?;
    let ft = md.file_type();
    if ft.is_dir() {
        if !to.is_dir() {
            fs::create_dir(to).ctx(|| format!("creating {}", to.display()))?;
        }
        copy_tree(from, to, owner)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(from).ctx(|| format!("reading link {}", from.display()))?;
        let _ = fs::remove_file(to);
        std::os::unix::fs::symlink(&target, to)
            .ctx(|| format!("creating link {}", to.display()))?;
    } else if ft.is_file() {
        fs::copy(from, to).ctx(|| format!("copying {} to {}", from.display(), to.display()))?;
    } else {
        // Device nodes, fifos and sockets are not data to copy.
        return Ok(());
    }
    own(to, &md, owner)?;
    if !ft.is_symlink() {
        fs::set_permissions(to, fs::Permissions::from_mode(md.mode() & 0o7777))
            .ctx(|| format!("setting the mode of {}", to.display()))?;
    }
    Ok(())
}

/// Copies the contents of directory `src` into the existing directory `dst`.
pub fn copy_tree(src: &Path, dst: &Path, owner: Owner) -> Result<()> {
    for e in fs::read_dir(src).ctx(|| format!("reading {}", src.display()))? {
        let e = e.ctx(|| format!("reading {}", src.display()))?;
        copy_entry(&e.path(), &dst.join(e.file_name()), owner)?;
    }
    Ok(())
}
