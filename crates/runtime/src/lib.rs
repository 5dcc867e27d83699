//! berth's OCI runtime (runtime-spec 1.2, Linux), with runc's lifecycle and command-line
//! contract: `create` leaves the container's init waiting in its namespaces, `start`
//! releases it, and every later verb finds the container through its state directory.

pub mod capabilities;
mod cgroup;
mod channel;
pub mod config;
mod console;
pub mod create;
pub mod error;
pub mod exec;
pub mod features;
mod hooks;
mod idmap;
mod init;
pub mod lifecycle;
mod namespaces;
mod process;
mod rootfs;
pub mod run;
pub mod sealed;
pub mod seccomp;
pub mod signal;
mod spawn;
pub mod spec;
pub mod state;
pub mod supervise;
mod sys;

pub use error::{Result, RuntimeError};
pub use spec::OCI_VERSION;

/// Default state root for root; rootless callers get `$XDG_RUNTIME_DIR/berth/runtime`.
pub fn default_root() -> std::path::PathBuf {
    if sys_is_root() {
        return "/run/berth/runtime".into();
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d).join("berth/runtime"),
        _ => std::env::temp_dir().join(format!("berth-runtime-{}", sys::geteuid())),
    }
}

fn sys_is_root() -> bool {
    sys::geteuid() == 0
}
