//! Which namespaces a container gets: new ones become unshare flags, ones given by path
//! are opened up front (in the runtime's own view of the filesystem) and joined with
//! setns in the intermediate child.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::LinuxNamespaceType;

use crate::error::{IoContext, Result};
use crate::sys;

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The file name under /proc/PID/ns.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

pub struct Join {
    pub kind: LinuxNamespaceType,
    pub fd: OwnedFd,
}

#[derive(Default)]
pub struct Plan {
    /// Namespaces to join, user namespace first (joining it changes what the others need).
    pub join: Vec<Join>,
    /// CLONE_NEW* flags for new namespaces other than user.
    pub unshare: libc::c_int,
    pub new_user: bool,
    /// pid and time namespaces only apply to children: the intermediate process must fork.
    pub needs_fork: bool,
}

pub fn plan(namespaces: &[(LinuxNamespaceType, Option<std::path::PathBuf>)]) -> Result<Plan> {
    let mut p = Plan::default();
    for (kind, path) in namespaces {
        match path {
            Some(path) => {
                let f = File::open(path)
                    .ctx(|| format!("opening {} namespace {}", proc_name(*kind), path.display()))?;
                p.join.push(Join {
                    kind: *kind,
                    fd: f.into(),
                });
            }
            None if *kind == LinuxNamespaceType::User => p.new_user = true,
            None => p.unshare |= clone_flag(*kind),
        }
        if matches!(kind, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
            p.needs_fork = true;
        }
    }
    p.join.sort_by_key(|j| {
        if j.kind == LinuxNamespaceType::User {
            0
        } else {
            1
        }
    });
    Ok(p)
}

/// Joins every namespace of the plan; runs in the intermediate child.
pub fn join_all(join: &[Join]) -> Result<()> {
    for j in join {
        sys::setns(j.fd.as_fd(), clone_flag(j.kind))
            .ctx(|| format!("joining {} namespace", proc_name(j.kind)))?;
    }
    Ok(())
}

/// Namespaces of a running container, for `exec`: every kind that differs from ours.
pub fn of_process(pid: i32) -> Result<Vec<(LinuxNamespaceType, Option<std::path::PathBuf>)>> {
    use LinuxNamespaceType::*;
    let mut out = Vec::new();
    for kind in [User, Mount, Cgroup, Uts, Ipc, Network, Pid, Time] {
        let theirs = format!("/proc/{pid}/ns/{}", proc_name(kind));
        let ours = format!("/proc/self/ns/{}", proc_name(kind));
        let (Ok(a), Ok(b)) = (std::fs::read_link(&theirs), std::fs::read_link(&ours)) else {
            continue;
        };
        if a != b {
            out.push((kind, Some(theirs.into())));
        }
    }
    Ok(out)
}
