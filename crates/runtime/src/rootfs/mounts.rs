//! Mounting config.json's `mounts` into the rootfs. Every destination is resolved inside
//! the rootfs (never following a symlink out of it, CVE-2021-30465) and the mount is made
//! onto /proc/self/fd/N of the resolved handle, so a path swapped after resolution cannot
//! redirect it.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_safepath::{proc_fd_path, Root};
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

/// What the rootfs setup knows about the container's cgroups, for `cgroup` mounts.
#[derive(Default, Clone)]
pub struct CgroupView {
    /// v1: (hierarchy name as under /sys/fs/cgroup, host dir of the container's cgroup).
    pub v1: Vec<(String, PathBuf)>,
    /// v2: host dir of the container's cgroup.
    pub v2: Option<PathBuf>,
    pub own_namespace: bool,
}

pub struct MountCtx<'a> {
    pub root: &'a Root,
    pub cgroups: &'a CgroupView,
}

pub fn mount_one(ctx: &MountCtx<'_>, m: &Mount) -> Result<()> {
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let dest = m.destination();
    if !dest.is_absolute() {
        return Err(RuntimeError::Config(format!(
            "mount destination {} must be an absolute path",
            dest.display()
        )));
    }
    if opts.idmap {
        return Err(RuntimeError::Config(format!(
            "mount {}: idmapped mounts (idmap/ridmap) are not supported by berth yet",
            dest.display()
        )));
    }
    let typ = m.typ().as_deref().unwrap_or("");
    let what = || {
        format!(
            "mounting {} ({})",
            dest.display(),
            if typ.is_empty() { "bind" } else { typ }
        )
    };
    if opts.bind || typ == "bind" {
        return bind(ctx.root, m, &opts).map_err(|e| annotate(e, &what()));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return cgroup(ctx, dest, &opts).map_err(|e| annotate(e, &what()));
    }
    let target = ctx.root.mkdir_all(dest, 0o755)?;
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let data = opts.data.join(",");
    let target_path = proc_fd_path(target.as_fd());
    let flags = opts.flags & !libc::MS_REMOUNT;
    let result = if opts.tmpcopyup && typ == "tmpfs" {
        tmpfs_copyup(ctx.root, dest, flags, &opts.data)
    } else {
        sys::mount(Some(&source), &target_path, Some(typ), flags, Some(&data))
    };
    match result {
        Ok(()) => {}
        // sysfs and mqueue refuse a fresh instance in a user namespace that does not own
        // the network/ipc namespace; the host's instance, bound in, is what runc uses too.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) && (typ == "sysfs" || typ == "mqueue") => {
            let host = if typ == "sysfs" {
                "/sys"
            } else {
                "/dev/mqueue"
            };
            sys::mount(
                Some(Path::new(host)),
                &target_path,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .ctx(what)?;
            remount(ctx.root, dest, &opts)?;
        }
        Err(e) => return Err(e).ctx(what),
    }
    apply_propagation_and_attrs(ctx.root, dest, &opts)
}

fn annotate(e: RuntimeError, what: &str) -> RuntimeError {
    match e {
        RuntimeError::Io {
            what: inner,
            source,
        } => RuntimeError::Io {
            what: format!("{what}: {inner}"),
            source,
        },
        other => other,
    }
}

fn bind(root: &Root, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let source = m.source().clone().ok_or_else(|| {
        RuntimeError::Config(format!("bind mount {} has no source", dest.display()))
    })?;
    let meta = std::fs::metadata(&source).ctx(|| {
        format!(
            "bind mount source {} for {}",
            source.display(),
            dest.display()
        )
    })?;
    // An existing target (even a symlink, resolved inside the root) is mounted over as
    // it is; only missing ones are created.
    let target = match root.resolve(dest) {
        Ok(fd) => fd,
        Err(_) if meta.is_dir() => root.mkdir_all(dest, 0o755)?,
        Err(_) => root.create_file(dest, 0o644)?,
    };
    let mut flags = libc::MS_BIND;
    if opts.recursive_bind {
        flags |= libc::MS_REC;
    }
    sys::mount(
        Some(&source),
        &proc_fd_path(target.as_fd()),
        None,
        flags,
        None,
    )
    .ctx(|| format!("bind-mounting {} on {}", source.display(), dest.display()))?;
    remount(root, dest, opts)?;
    apply_propagation_and_attrs(root, dest, opts)
}

/// A bind mount ignores every flag but MS_BIND|MS_REC on creation: ro, nosuid and
/// friends take a second, remount call.
fn remount(root: &Root, dest: &Path, opts: &MountOptions) -> Result<()> {
    let wanted = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if wanted == 0 {
        return Ok(());
    }
    let fd = root.resolve(dest)?;
    let path = proc_fd_path(fd.as_fd());
    let base = libc::MS_REMOUNT | libc::MS_BIND | wanted;
    match sys::mount(None, &path, None, base, None) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            let locked = options::locked_flags(&path) & !opts.cleared;
            sys::mount(None, &path, None, base | locked, None)
        }
        other => other,
    }
    .ctx(|| format!("remounting {} with its options", dest.display()))
}

fn apply_propagation_and_attrs(root: &Root, dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() && opts.rec_set == 0 && opts.rec_clear == 0 {
        return Ok(());
    }
    let fd = root.resolve(dest)?;
    let path = proc_fd_path(fd.as_fd());
    for p in &opts.propagation {
        sys::mount(None, &path, None, *p, None)
            .ctx(|| format!("setting propagation of {}", dest.display()))?;
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        sys::mount_setattr_recursive(&path, opts.rec_set, opts.rec_clear)
            .ctx(|| format!("setting recursive mount attributes on {}", dest.display()))?;
    }
    Ok(())
}

/// `tmpcopyup`: the tmpfs starts with a copy of what the image had at that path. It is
/// built detached (new mount API), filled, made read-only if asked, then attached.
fn tmpfs_copyup(
    root: &Root,
    dest: &Path,
    flags: libc::c_ulong,
    data: &[String],
) -> std::io::Result<()> {
    let mut attrs = 0;
    for (ms, attr) in [
        (libc::MS_NOSUID, sys::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, sys::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, sys::MOUNT_ATTR_NOEXEC),
    ] {
        if flags & ms != 0 {
            attrs |= attr;
        }
    }
    let mnt = sys::detached_tmpfs(data, attrs)?;
    let from = root.resolve(dest).map_err(std::io::Error::other)?;
    copy_tree(&proc_fd_path(from.as_fd()), &proc_fd_path(mnt.as_fd()))?;
    if flags & libc::MS_RDONLY != 0 {
        sys::mount_setattr_fd(mnt.as_fd(), sys::MOUNT_ATTR_RDONLY)?;
    }
    let target = root.resolve(dest).map_err(std::io::Error::other)?;
    sys::move_mount_to(mnt.as_fd(), target.as_fd())
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let dst = to.join(entry.file_name());
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&entry.path(), &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(entry.path(), &dst)?;
        } else {
            continue;
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode()))?;
        }
    }
    Ok(())
}

/// cgroup mounts: on v2 a fresh cgroup2 instance inside a cgroup namespace (it shows
/// the container's cgroup as its root), else a bind of the container's cgroup dir; on v1
/// a tmpfs with one bind per hierarchy, like the host's /sys/fs/cgroup.
fn cgroup(ctx: &MountCtx<'_>, dest: &Path, opts: &MountOptions) -> Result<()> {
    let root = ctx.root;
    let target = root.mkdir_all(dest, 0o755)?;
    let target_path = proc_fd_path(target.as_fd());
    let flags = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if let Some(v2) = &ctx.cgroups.v2 {
        if ctx.cgroups.own_namespace {
            sys::mount(
                Some(Path::new("cgroup2")),
                &target_path,
                Some("cgroup2"),
                flags,
                None,
            )
            .ctx(|| format!("mounting cgroup2 on {}", dest.display()))?;
        } else {
            sys::mount(
                Some(v2),
                &target_path,
                None,
                libc::MS_BIND | libc::MS_REC,
                None,
            )
            .ctx(|| format!("binding {} on {}", v2.display(), dest.display()))?;
            remount(root, dest, opts)?;
        }
        return Ok(());
    }
    sys::mount(
        Some(Path::new("tmpfs")),
        &target_path,
        Some("tmpfs"),
        (flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("mode=755"),
    )
    .ctx(|| format!("mounting tmpfs for cgroups on {}", dest.display()))?;
    for (name, host_dir) in &ctx.cgroups.v1 {
        let sub = dest.join(name);
        let fd = root.mkdir_all(&sub, 0o755)?;
        sys::mount(
            Some(host_dir),
            &proc_fd_path(fd.as_fd()),
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .ctx(|| format!("binding cgroup {} on {}", host_dir.display(), sub.display()))?;
        remount(root, &sub, opts)?;
        // Co-mounted hierarchies ("cpu,cpuacct") are also reachable by each name.
        if name.contains(',') {
            for part in name.split(',') {
                root.symlink(Path::new(name), &dest.join(part))?;
            }
        }
    }
    if flags & libc::MS_RDONLY != 0 {
        let fd = root.resolve(dest)?;
        sys::mount(
            None,
            &proc_fd_path(fd.as_fd()),
            None,
            libc::MS_REMOUNT | flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            Some("mode=755"),
        )
        .ctx(|| format!("making {} read-only", dest.display()))?;
    }
    Ok(())
}
