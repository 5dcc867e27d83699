//! The last steps of a container process, shared by init and exec: limits, identity,
//! capabilities, seccomp, working directory, and the execve of the user's program.

use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::seccomp::Prepared;
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain, Process};

use crate::config::rlimit_resource;
use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program to exec, resolved inside the container's root before the point of no
/// return so that a missing binary fails `create`, not the container later.
pub struct Program {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
}

pub fn resolve_program(p: &Process) -> Result<Program> {
    let args = p.args().clone().unwrap_or_default();
    let arg0 = args
        .first()
        .ok_or_else(|| RuntimeError::Config("process.args must not be empty".into()))?;
    let env = p.env().clone().unwrap_or_default();
    let path = lookup(arg0, &env)?;
    let to_c = |s: &str| sys::cstr(s).ctx(|| "process arguments".into());
    Ok(Program {
        path: sys::cstr(&path).ctx(|| "process path".into())?,
        argv: args.iter().map(|a| to_c(a)).collect::<Result<_>>()?,
        envp: env.iter().map(|e| to_c(e)).collect::<Result<_>>()?,
    })
}

fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = Path::new(arg0);
        return if !p.exists() {
            Err(RuntimeError::Config(format!(
                "exec: {arg0:?}: no such file or directory in the container"
            )))
        } else if !p.is_file() || !sys::access_exec(p) {
            // Managers map "permission denied" to exit status 126, as for runc.
            Err(RuntimeError::Config(format!(
                "exec: {arg0:?}: permission denied"
            )))
        } else {
            Ok(p.to_path_buf())
        };
    }
    let search = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in search.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        if candidate.is_file() && sys::access_exec(&candidate) {
            return Ok(candidate);
        }
    }
    Err(RuntimeError::Config(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().as_deref().unwrap_or_default() {
        let res = rlimit_resource(r.typ());
        sys::setrlimit(res, r.soft(), r.hard()).map_err(|e| {
            RuntimeError::Config(format!(
                "setting {:?} to soft {} hard {}: {e}{}",
                r.typ(),
                r.soft(),
                r.hard(),
                if e.raw_os_error() == Some(libc::EPERM) {
                    " (raising a hard limit needs CAP_SYS_RESOURCE, which this host does not grant)"
                } else {
                    ""
                }
            ))
        })?;
    }
    Ok(())
}

pub fn set_oom_score_adj(p: &Process) -> Result<()> {
    let Some(adj) = p.oom_score_adj() else {
        return Ok(());
    };
    std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
        RuntimeError::Config(format!(
            "setting oomScoreAdj to {adj}: {e}{}",
            if e.raw_os_error() == Some(libc::EACCES) || e.raw_os_error() == Some(libc::EPERM) {
                " (lowering it below the runtime's own needs CAP_SYS_RESOURCE, which this host does not grant)"
            } else {
                ""
            }
        ))
    })
}

pub fn set_personality(p: Option<&LinuxPersonality>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    sys::personality(persona).ctx(|| format!("setting personality {:?}", p.domain()))
}

/// Where a seccomp notify fd goes: the config's `listenerPath`, connected by the runtime
/// in the host's mount namespace before the process enters the container.
pub struct NotifyTarget {
    pub stream: std::os::unix::net::UnixStream,
    pub path: PathBuf,
    pub metadata: String,
    pub state: Vec<u8>,
}

impl NotifyTarget {
    /// Connects to `listenerPath` when the profile uses SCMP_ACT_NOTIFY.
    pub fn connect(cfg: Option<&oci_spec::runtime::LinuxSeccomp>) -> Result<Option<Self>> {
        let Some(cfg) = cfg.filter(|c| crate::seccomp::uses_notify(c)) else {
            return Ok(None);
        };
        let path = cfg.listener_path().clone().ok_or_else(|| {
            RuntimeError::Config(
                "seccomp uses SCMP_ACT_NOTIFY but linux.seccomp.listenerPath is not set".into(),
            )
        })?;
        let stream = std::os::unix::net::UnixStream::connect(&path)
            .ctx(|| format!("connecting to seccomp listenerPath {}", path.display()))?;
        Ok(Some(NotifyTarget {
            stream,
            path,
            metadata: cfg.listener_metadata().clone().unwrap_or_default(),
            state: Vec::new(),
        }))
    }
}

fn load_seccomp(filter: &Prepared, notify: &mut Option<NotifyTarget>) -> Result<()> {
    if let Some(fd) = crate::seccomp::load_prepared(filter)? {
        let Some(t) = notify.take() else {
            return Err(RuntimeError::Config(
                "seccomp uses SCMP_ACT_NOTIFY but linux.seccomp.listenerPath is not set".into(),
            ));
        };
        crate::seccomp::send_notify_fd_on(
            t.stream,
            &t.path,
            std::os::fd::AsFd::as_fd(&fd),
            &t.state,
            &t.metadata,
        )?;
    }
    Ok(())
}

/// Everything from dropping privileges to execve. Never returns on success.
pub fn finalize_and_exec(
    p: &Process,
    program: &Program,
    seccomp: Option<&Prepared>,
    mut notify: Option<NotifyTarget>,
    preserve_fds: u32,
) -> Result<Infallible> {
    let caps = p.capabilities().as_ref();
    let nnp = p.no_new_privileges() == Some(true);
    if let Some(c) = caps {
        crate::capabilities::drop_bounding(c)?;
    }
    // Without no_new_privs only a CAP_SYS_ADMIN holder may load a filter, so load it
    // while we are still privileged; with it, as late as possible.
    if !nnp {
        if let Some(f) = seccomp {
            load_seccomp(f, &mut notify)?;
        }
    }
    let user = p.user();
    sys::set_keepcaps(true).ctx(|| "keeping capabilities across setuid".into())?;
    let gids = user.additional_gids().clone().unwrap_or_default();
    let setgroups_denied = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "deny")
        .unwrap_or(false);
    if !setgroups_denied {
        sys::setgroups(&gids).ctx(|| format!("setting additional groups {gids:?}"))?;
    } else if !gids.is_empty() {
        return Err(RuntimeError::Config(
            "user.additionalGids cannot be set: setgroups is denied in this user namespace".into(),
        ));
    }
    sys::setresgid(user.gid()).ctx(|| format!("setting gid {}", user.gid()))?;
    sys::setresuid(user.uid()).ctx(|| format!("setting uid {}", user.uid()))?;
    match caps {
        Some(c) => crate::capabilities::apply(c)?,
        None => {
            // No capabilities object means none at all, as for runc.
            caps::clear(None, caps::CapSet::Effective).ok();
            caps::clear(None, caps::CapSet::Permitted).ok();
            caps::clear(None, caps::CapSet::Inheritable).ok();
            caps::clear(None, caps::CapSet::Ambient).ok();
        }
    }
    sys::set_keepcaps(false).ctx(|| "resetting keepcaps".into())?;
    sys::umask(user.umask().unwrap_or(0o022));
    rustix::process::chdir(p.cwd())
        .map_err(std::io::Error::from)
        .ctx(|| format!("changing to the working directory {}", p.cwd().display()))?;
    if nnp {
        sys::set_no_new_privs().ctx(|| "setting no_new_privs".into())?;
        if let Some(f) = seccomp {
            load_seccomp(f, &mut notify)?;
        }
    }
    sys::reset_signals().ctx(|| "resetting signal handlers".into())?;
    sys::cloexec_from(3 + preserve_fds).ctx(|| "closing inherited descriptors".into())?;
    let err = sys::execve(&program.path, &program.argv, &program.envp);
    Err(RuntimeError::Io {
        what: format!("executing {:?}", program.path),
        source: err,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_uses_path_from_env() {
        let p = lookup("sh", &["PATH=/nonexistent:/bin".into()]).unwrap();
        assert_eq!(p, Path::new("/bin/sh"));
        let e = lookup("no-such-binary-xyz", &[]).unwrap_err().to_string();
        assert!(e.contains("executable file not found in $PATH"), "{e}");
    }
}
