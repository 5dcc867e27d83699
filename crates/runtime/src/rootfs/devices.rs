//! /dev inside the container: the default device nodes every container gets, the
//! conventional symlinks, and `linux.devices`. In a user namespace mknod is refused, so
//! nodes are bind-mounted from the host instead.

use std::os::fd::AsFd;
use std::path::Path;

use berth_safepath::{proc_fd_path, NodeKind, Root};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

struct Node {
    path: &'static str,
    major: u32,
    minor: u32,
}

const DEFAULT_NODES: &[Node] = &[
    Node {
        path: "/dev/null",
        major: 1,
        minor: 3,
    },
    Node {
        path: "/dev/zero",
        major: 1,
        minor: 5,
    },
    Node {
        path: "/dev/full",
        major: 1,
        minor: 7,
    },
    Node {
        path: "/dev/random",
        major: 1,
        minor: 8,
    },
    Node {
        path: "/dev/urandom",
        major: 1,
        minor: 9,
    },
    Node {
        path: "/dev/tty",
        major: 5,
        minor: 0,
    },
];

const SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

pub fn create_defaults(root: &Root, in_userns: bool, extra: &[LinuxDevice]) -> Result<()> {
    for n in DEFAULT_NODES {
        // A config may describe the same node itself (with other permissions); it wins.
        if extra.iter().any(|d| d.path() == Path::new(n.path)) {
            continue;
        }
        make_node(
            root,
            Path::new(n.path),
            NodeKind::Char,
            0o666,
            n.major,
            n.minor,
            in_userns,
            None,
        )?;
    }
    create_configured(root, in_userns, extra)?;
    // /dev/ptmx must be the devpts instance's ptmx, even where a config (privileged
    // containers list every host device) asked for a 5:2 node.
    remove_if_not_symlink(root, "ptmx")?;
    for (target, link) in SYMLINKS {
        root.symlink(Path::new(target), Path::new(link))?;
    }
    if Path::new("/proc/kcore").exists() {
        root.symlink(Path::new("/proc/kcore"), Path::new("/dev/core"))?;
    }
    Ok(())
}

fn remove_if_not_symlink(root: &Root, name: &str) -> Result<()> {
    let Ok(dev) = root.resolve(Path::new("/dev")) else {
        return Ok(());
    };
    match rustix::fs::statat(&dev, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Symlink =>
        {
            rustix::fs::unlinkat(&dev, name, rustix::fs::AtFlags::empty())
                .map_err(std::io::Error::from)
                .ctx(|| format!("replacing /dev/{name}"))
        }
        _ => Ok(()),
    }
}

pub fn create_configured(root: &Root, in_userns: bool, devices: &[LinuxDevice]) -> Result<()> {
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => NodeKind::Char,
            LinuxDeviceType::B => NodeKind::Block,
            LinuxDeviceType::P => NodeKind::Fifo,
            LinuxDeviceType::A => {
                return Err(RuntimeError::Config(format!(
                    "linux.devices {}: type \"a\" is only valid in device cgroup rules",
                    d.path().display()
                )))
            }
        };
        if !d.path().starts_with("/dev") {
            return Err(RuntimeError::Config(format!(
                "linux.devices {}: device paths must be under /dev",
                d.path().display()
            )));
        }
        let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
        let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
        // Nodes that already exist (a default one, or /dev bound from the host) are
        // kept, as runc does.
        if root.resolve_nofollow(d.path()).is_ok() {
            continue;
        }
        make_node(
            root,
            d.path(),
            kind,
            mode,
            d.major() as u32,
            d.minor() as u32,
            in_userns,
            owner,
        )?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    root: &Root,
    path: &Path,
    kind: NodeKind,
    mode: u32,
    major: u32,
    minor: u32,
    in_userns: bool,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    if !in_userns {
        match root.mknod(path, kind, mode, major, minor) {
            Ok(()) => {
                let fd = root.resolve_nofollow(path)?;
                let p = proc_fd_path(fd.as_fd());
                // mknod's mode is filtered by the umask; set it exactly.
                std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode))
                    .ctx(|| format!("setting mode of {}", path.display()))?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                        .ctx(|| format!("setting owner of {}", path.display()))?;
                }
                return Ok(());
            }
            Err(e) if is_eperm(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Bind the host's node: the only way to get a device in a user namespace.
    let host = path;
    let target = root.create_file(path, 0o000)?;
    sys::mount(
        Some(host),
        &proc_fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
    .ctx(|| {
        format!(
            "binding host device {} on {}",
            host.display(),
            path.display()
        )
    })
}

fn is_eperm(e: &berth_safepath::SafePathError) -> bool {
    use std::error::Error;
    e.source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .and_then(|io| io.raw_os_error())
        == Some(libc::EPERM)
}
