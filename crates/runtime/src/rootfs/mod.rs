//! The container's root filesystem, set up by its init inside the new mount namespace:
//! propagation, the rootfs bind, config mounts, /dev, then pivot_root, then the masked
//! and read-only paths that must be applied from inside.

pub mod devices;
pub mod mounts;
pub mod options;

use std::os::fd::AsFd;
use std::path::Path;

use berth_safepath::Root;
use oci_spec::runtime::Spec;

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;
pub use mounts::CgroupView;

pub struct Setup<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub in_userns: bool,
    pub cgroups: CgroupView,
}

fn propagation_setting(spec: &Spec) -> Result<Option<libc::c_ulong>> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .filter(|p| !p.is_empty())
    {
        None => Ok(None),
        Some(p) => options::propagation(&p).map(Some).ok_or_else(|| {
            RuntimeError::Config(format!(
                "linux.rootfsPropagation {p:?} is not one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable"
            ))
        }),
    }
}

/// Everything before pivot_root. Returns the handle of the rootfs for later steps.
pub fn prepare(s: &Setup<'_>) -> Result<Root> {
    let configured = propagation_setting(s.spec)?;
    // Nothing the container mounts may propagate back to the host; shared propagation
    // is applied to the container's own root after pivot_root.
    let initial = match configured {
        Some(p) if p & (libc::MS_PRIVATE | libc::MS_SLAVE) != 0 => p | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    sys::mount(None, Path::new("/"), None, initial, None)
        .ctx(|| "setting propagation of /".into())?;
    sys::mount(
        Some(s.rootfs),
        s.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .ctx(|| format!("bind-mounting the rootfs {} on itself", s.rootfs.display()))?;
    let root = Root::open(s.rootfs)?;
    let ctx = mounts::MountCtx {
        root: &root,
        cgroups: &s.cgroups,
    };
    let mounts = s.spec.mounts().clone().unwrap_or_default();
    for m in &mounts {
        mounts::mount_one(&ctx, m)?;
    }
    let dev_is_bound = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|x| x == "bind" || x == "rbind")))
    });
    let devices = s
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    if dev_is_bound {
        devices::create_configured(&root, s.in_userns, &devices)?;
    } else {
        devices::create_defaults(&root, s.in_userns, &devices)?;
    }
    Ok(root)
}

/// pivot_root into the rootfs and detach the old root; `--no-pivot` moves the rootfs
/// over / and chroots instead (for ramfs roots where pivot_root is impossible).
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        rustix::process::chdir(rootfs)
            .map_err(std::io::Error::from)
            .ctx(|| format!("chdir {}", rootfs.display()))?;
        sys::mount(Some(rootfs), Path::new("/"), None, libc::MS_MOVE, None)
            .ctx(|| "moving the rootfs over /".into())?;
        rustix::process::chroot(".")
            .map_err(std::io::Error::from)
            .ctx(|| "chroot into the rootfs".into())?;
        return rustix::process::chdir("/")
            .map_err(std::io::Error::from)
            .ctx(|| "chdir /".into());
    }
    let old = rustix::fs::open(
        "/",
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| "opening /".into())?;
    let new = rustix::fs::open(
        rootfs,
        rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| format!("opening {}", rootfs.display()))?;
    rustix::process::fchdir(new.as_fd())
        .map_err(std::io::Error::from)
        .ctx(|| "entering the rootfs".into())?;
    // pivot_root(".", ".") stacks the old root on top of the new one; no directory for
    // it has to exist in the rootfs.
    sys::pivot_root(Path::new("."), Path::new("."))
        .ctx(|| format!("pivot_root into {}", rootfs.display()))?;
    rustix::process::fchdir(old.as_fd())
        .map_err(std::io::Error::from)
        .ctx(|| "entering the old root".into())?;
    sys::mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )
    .ctx(|| "making the old root a slave".into())?;
    sys::umount2(Path::new("."), libc::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    rustix::process::chdir("/")
        .map_err(std::io::Error::from)
        .ctx(|| "chdir /".into())
}

/// Steps taken from inside the new root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().clone())
        .unwrap_or_default()
    {
        readonly_path(Path::new(&p))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
    {
        mask_path(Path::new(&p))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let locked = options::locked_flags(Path::new("/"));
        sys::mount(
            None,
            Path::new("/"),
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | locked,
            None,
        )
        .ctx(|| "making the root filesystem read-only".into())?;
    }
    if let Some(p) = propagation_setting(spec)? {
        if p & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
            sys::mount(None, Path::new("/"), None, p, None)
                .ctx(|| "applying linux.rootfsPropagation to /".into())?;
        }
    }
    Ok(())
}

fn mask_path(p: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("masking {}", p.display())),
    };
    if meta.is_dir() {
        sys::mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            libc::MS_RDONLY,
            Some("size=0k"),
        )
    } else {
        sys::mount(Some(Path::new("/dev/null")), p, None, libc::MS_BIND, None)
    }
    .ctx(|| format!("masking {}", p.display()))
}

fn readonly_path(p: &Path) -> Result<()> {
    match sys::mount(Some(p), p, None, libc::MS_BIND | libc::MS_REC, None) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        other => other.ctx(|| format!("binding read-only path {}", p.display()))?,
    }
    let locked = options::locked_flags(p);
    sys::mount(
        None,
        p,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_REC | locked,
        None,
    )
    .ctx(|| format!("making {} read-only", p.display()))
}
