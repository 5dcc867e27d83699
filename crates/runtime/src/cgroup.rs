//! Glue between the container lifecycle and berth-cgroups: where a container's cgroup
//! lives, and tearing it down with everything still in it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_cgroups::Manager;
use oci_spec::runtime::Spec;

use crate::error::{Result, RuntimeError};
use crate::sys;

pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// `linux.cgroupsPath`, or `/berth/<id>` when the config leaves it to the runtime.
/// Relative paths are taken below the hierarchy root, as runc does for cgroupfs.
pub fn location(spec: &Spec, id: &str) -> (PathBuf, PathBuf) {
    let configured = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .filter(|p| !p.as_os_str().is_empty());
    let path = match configured {
        Some(p) if p.is_absolute() => p,
        Some(p) => Path::new("/").join(p),
        None => Path::new("/berth").join(id),
    };
    (PathBuf::from(DEFAULT_ROOT), path)
}

pub fn open(root: &Path, path: &Path) -> Result<Box<dyn Manager>> {
    if systemd_slice_syntax(path) {
        return Err(RuntimeError::Config(format!(
            "cgroupsPath {} uses systemd's slice:prefix:name form, but berth manages cgroups through cgroupfs here; give a path like /berth/<id>",
            path.display()
        )));
    }
    Ok(berth_cgroups::open(root, path)?)
}

fn systemd_slice_syntax(path: &Path) -> bool {
    let s = path.to_string_lossy();
    s.matches(':').count() == 2 && !s.contains('/')
}

/// SIGKILLs every process in the cgroup, waits for them to go, removes the cgroup.
/// Best effort: used on cleanup paths where the first error has already been reported.
pub fn kill_all_and_destroy(cg: &dyn Manager) {
    kill_all(cg, libc::SIGKILL);
    let _ = cg.destroy();
}

pub fn kill_all(cg: &dyn Manager, sig: libc::c_int) {
    if !cg.exists() {
        return;
    }
    // A frozen process cannot die; thaw after signalling so SIGKILL is delivered.
    let frozen = matches!(cg.freezer_state(), Ok(berth_cgroups::FreezerState::Frozen));
    if let Ok(pids) = cg.pids() {
        for pid in pids {
            let _ = sys::kill(pid, sig);
        }
    }
    if frozen {
        let _ = cg.thaw();
    }
    if sig != libc::SIGKILL {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match cg.pids() {
            Ok(p) if p.is_empty() => return,
            Err(_) => return,
            Ok(p) => {
                for pid in p {
                    let _ = sys::kill(pid, libc::SIGKILL);
                    // Reap it if it is ours (the init of a foreground run).
                    let _ = sys::waitpid(pid, true);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The device rules the container's cgroup gets: the config's own, then the nodes every
/// container is given (/dev/null and friends, ptys), then each `linux.devices` node.
/// Rules are matched last-to-first, so a config's "deny all" still lets these through,
/// as with runc and Docker.
pub fn effective_resources(spec: &Spec) -> Option<oci_spec::runtime::LinuxResources> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let linux = spec.linux().as_ref()?;
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules = res.devices().clone().unwrap_or_default();
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let c = LinuxDeviceType::C;
    // mknod of any node is allowed (using it is what the rules below restrict).
    rules.push(rule(c, None, None, "m"));
    rules.push(rule(LinuxDeviceType::B, None, None, "m"));
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(rule(c, Some(major), Some(minor), "rwm"));
    }
    rules.push(rule(c, Some(136), None, "rwm"));
    for d in linux.devices().clone().unwrap_or_default() {
        let typ = match d.typ() {
            LinuxDeviceType::U => LinuxDeviceType::C,
            t => t,
        };
        if typ == LinuxDeviceType::P {
            continue;
        }
        rules.push(rule(typ, Some(d.major()), Some(d.minor()), "rwm"));
    }
    res.set_devices(Some(rules));
    Some(res)
}
