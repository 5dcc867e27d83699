//! One error type for every cgroup operation. Each variant carries the path
//! and value involved plus a hint, because the runtime prints these straight
//! to a user who has to decide what to change in config.json or on the host.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot determine the cgroup version of {path}: {source} (is a cgroup filesystem mounted there?)")]
    Detect { path: PathBuf, source: io::Error },

    #[error("cannot parse {path}: {reason} (line {line:?}); the file does not look like the kernel's format")]
    Parse {
        path: PathBuf,
        line: String,
        reason: String,
    },

    #[error("cannot read {path}: {source}{hint}")]
    Read {
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },

    #[error("cannot write {value:?} to {path}: {source}{hint}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
        hint: &'static str,
    },

    #[error("cannot set memory limit {value:?} in {path}: the cgroup already uses more memory than that and the kernel could not reclaim enough (EBUSY); raise the limit or let the container free memory first")]
    MemoryLimitBelowUsage { path: PathBuf, value: String },

    #[error("cannot apply {resource} on this host: {path} does not exist ({why})")]
    Unsupported {
        resource: String,
        path: PathBuf,
        why: String,
    },

    #[error("invalid {resource} value {value:?}: {why}")]
    InvalidResource {
        resource: String,
        value: String,
        why: String,
    },

    #[error("cannot create cgroup directory {path}: {source}{hint}")]
    Create {
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },

    #[error("cannot remove cgroup {path}: {source}{hint}")]
    Remove {
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },

    #[error("cgroup {path} did not reach state {wanted} within {millis} ms (last state {last:?}); a task may be stuck in uninterruptible sleep (D state), retry or thaw it")]
    FreezeTimeout {
        path: PathBuf,
        wanted: &'static str,
        last: String,
        millis: u64,
    },

    #[error("no cgroup v1 hierarchy with the {controller} controller is mounted (looked in {mountinfo}); mount it or drop the {controller} settings from the spec")]
    NoHierarchy {
        controller: String,
        mountinfo: PathBuf,
    },

    #[error("cgroup v2 device filter for {path}: {op} failed: {source}{log}")]
    Bpf {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
        /// Verifier output, which is the only useful explanation of a
        /// rejected program.
        log: String,
    },
}

/// Hints keyed by errno so a raw "Invalid argument" tells the user where to look.
pub(crate) fn write_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOENT) => " (the control file is missing: the controller is not enabled for this cgroup or not supported by this kernel)",
        Some(libc::EINVAL) => " (the kernel rejected the value: check its range and format, and that it is consistent with related limits and the parent cgroup)",
        Some(libc::EBUSY) => " (resource busy: the new value conflicts with current usage or with tasks already in the cgroup)",
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => " (permission denied: run as root or use a cgroup delegated to this user)",
        Some(libc::EOPNOTSUPP) => " (not supported by this kernel or controller)",
        Some(libc::ESRCH) => " (no such process: it exited before it could be moved)",
        _ => "",
    }
}

pub(crate) fn read_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::ENOENT) => {
            " (missing: the cgroup was removed or the controller is not available here)"
        }
        Some(libc::EACCES) | Some(libc::EPERM) => " (permission denied: run as root)",
        _ => "",
    }
}

pub(crate) fn remove_hint(err: &io::Error) -> &'static str {
    match err.raw_os_error() {
        Some(libc::EBUSY) => " (cgroup still has processes or child cgroups: kill the processes listed in its cgroup.procs and retry)",
        Some(libc::EACCES) | Some(libc::EPERM) => " (permission denied: run as root)",
        _ => "",
    }
}

impl CgroupError {
    /// Whether the failure was a cgroup file or directory that does not exist (any
    /// variant carrying an io::Error with ENOENT).
    pub fn is_not_found(&self) -> bool {
        use std::error::Error;
        self.source()
            .and_then(|s| s.downcast_ref::<io::Error>())
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
    }
}
