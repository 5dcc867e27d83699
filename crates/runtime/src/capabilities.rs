//! `process.capabilities`: checking a config against what the host grants,
//! and applying the five capability sets in the container's init.
//!
//! The init must call these in this order:
//!
//! 1. [`drop_bounding`] while still privileged (`PR_CAPBSET_DROP` needs
//!    `CAP_SETPCAP` in the effective set);
//! 2. `prctl(PR_SET_KEEPCAPS, 1)`, so the permitted set survives the uid
//!    change;
//! 3. `setgroups`, `setresgid`, `setresuid` to the configured user;
//! 4. [`apply`], which sets inheritable, permitted and effective in one
//!    `capset` and then raises the ambient set.
//!
//! [`check_against_bounding`] runs in the runtime before any fork so that
//! an impossible config fails early with a clear message.

use std::collections::BTreeMap;
use std::path::PathBuf;

use caps::Capability;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use rustix::thread::{CapabilitySet, CapabilitySets};

const PROC_STATUS: &str = "/proc/self/status";

/// Why capabilities could not be checked or applied.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    #[error(
        "unknown capability {name:?}; use a Linux capability name such as CAP_NET_ADMIN or \
         NET_ADMIN"
    )]
    Unknown { name: String },

    #[error(
        "process.capabilities asks for {}, but this host's capability bounding set does not \
         grant {}; a container cannot get a capability the host withholds, so remove it from \
         the config (or run on a host that grants it)",
        describe_missing(.missing),
        if .missing.len() == 1 { "it" } else { "them" }
    )]
    NotGrantedByHost {
        /// Each missing capability with the config sets that ask for it.
        missing: Vec<(Capability, Vec<&'static str>)>,
    },

    #[error("cannot read the host's capability bounding set from {path}: {reason}")]
    ReadBounding {
        path: PathBuf,
        reason: std::io::Error,
    },

    #[error("cannot parse the CapBnd line of {path}: {line:?}")]
    ParseBounding { path: PathBuf, line: String },

    #[error(
        "cannot drop {cap} from the bounding set: {reason}; dropping needs CAP_SETPCAP, so \
         call drop_bounding before changing to the container user"
    )]
    DropBounding {
        cap: Capability,
        reason: rustix::io::Errno,
    },

    #[error(
        "cannot set the effective/permitted/inheritable capabilities: {reason}; effective \
         must be a subset of permitted, permitted must be held before the uid change \
         (PR_SET_KEEPCAPS), and inheritable must stay within the bounding set"
    )]
    SetSets { reason: rustix::io::Errno },

    #[error("cannot clear the ambient capability set: {reason}")]
    ClearAmbient { reason: rustix::io::Errno },

    #[error(
        "cannot raise {cap} in the ambient set: {reason}; an ambient capability must also be \
         in both the permitted and inheritable sets of the config"
    )]
    RaiseAmbient {
        cap: Capability,
        reason: rustix::io::Errno,
    },
}

fn describe_missing(missing: &[(Capability, Vec<&'static str>)]) -> String {
    missing
        .iter()
        .map(|(cap, sets)| format!("{cap} (in {})", sets.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every capability this build can name, as (number, `CAP_` name), by number: the
/// one table of names the engine and the runtime share.
pub fn known() -> Vec<(usize, String)> {
    let mut v: Vec<(usize, String)> = caps::all()
        .into_iter()
        .map(|c| (usize::from(c.index()), c.to_string()))
        .collect();
    v.sort();
    v
}

/// Parses a capability name as given to `exec --cap`: `CAP_NET_ADMIN`,
/// `NET_ADMIN`, `cap_net_admin` and `net_admin` are all accepted.
pub fn parse(name: &str) -> Result<Capability, CapabilityError> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse().map_err(|_| CapabilityError::Unknown {
        name: name.to_owned(),
    })
}

fn from_oci(cap: oci_spec::runtime::Capability) -> Result<Capability, CapabilityError> {
    // oci-spec displays capabilities without the CAP_ prefix ("SYS_ADMIN").
    parse(&cap.to_string())
}

fn to_set(caps: &Option<Capabilities>) -> Result<CapabilitySet, CapabilityError> {
    let mut bits = 0u64;
    for cap in caps.iter().flatten() {
        bits |= from_oci(*cap)?.bitmask();
    }
    Ok(CapabilitySet::from_bits_retain(bits))
}

/// The host's capability bounding set (`CapBnd` of `/proc/self/status`):
/// the ceiling for any capability a container can get on this machine.
pub fn host_bounding_set() -> Result<u64, CapabilityError> {
    let path = PathBuf::from(PROC_STATUS);
    let status =
        std::fs::read_to_string(&path).map_err(|reason| CapabilityError::ReadBounding {
            path: path.clone(),
            reason,
        })?;
    parse_cap_line(&status, "CapBnd").ok_or_else(|| CapabilityError::ParseBounding {
        line: status
            .lines()
            .find(|l| l.starts_with("CapBnd"))
            .unwrap_or("<missing>")
            .to_owned(),
        path,
    })
}

fn parse_cap_line(status: &str, key: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
    u64::from_str_radix(value.trim(), 16).ok()
}

/// Fails if the config asks, in any of its five sets, for a capability the
/// host's bounding set does not contain. The error names every such
/// capability and the sets that ask for it.
pub fn check_against_bounding(caps: &LinuxCapabilities) -> Result<(), CapabilityError> {
    check_with_bounding(caps, host_bounding_set()?)
}

fn check_with_bounding(caps: &LinuxCapabilities, bounding: u64) -> Result<(), CapabilityError> {
    let sets: [(&'static str, &Option<Capabilities>); 5] = [
        ("bounding", caps.bounding()),
        ("effective", caps.effective()),
        ("inheritable", caps.inheritable()),
        ("permitted", caps.permitted()),
        ("ambient", caps.ambient()),
    ];
    // Keyed by capability number so the message lists them in a stable order.
    let mut missing: BTreeMap<u8, (Capability, Vec<&'static str>)> = BTreeMap::new();
    for (set_name, set) in sets {
        for cap in set.iter().flatten() {
            let cap = from_oci(*cap)?;
            if bounding & cap.bitmask() == 0 {
                missing
                    .entry(cap.index())
                    .or_insert_with(|| (cap, Vec::new()))
                    .1
                    .push(set_name);
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(CapabilityError::NotGrantedByHost {
            missing: missing.into_values().collect(),
        })
    }
}

/// Drops from the calling thread's bounding set every capability that is
/// not in the config's bounding set (a missing bounding set means an empty
/// one). Needs `CAP_SETPCAP`, so call it before changing user.
pub fn drop_bounding(caps: &LinuxCapabilities) -> Result<(), CapabilityError> {
    let keep = to_set(caps.bounding())?;
    for cap in caps::all() {
        let one = CapabilitySet::from_bits_retain(cap.bitmask());
        if keep.contains(one) {
            continue;
        }
        match rustix::thread::capability_is_in_bounding_set(one) {
            Ok(true) => rustix::thread::remove_capability_from_bounding_set(one)
                .map_err(|reason| CapabilityError::DropBounding { cap, reason })?,
            Ok(false) => {}
            // EINVAL: newer than the running kernel, so it cannot be held.
            Err(rustix::io::Errno::INVAL) => {}
            Err(reason) => return Err(CapabilityError::DropBounding { cap, reason }),
        }
    }
    Ok(())
}

/// Sets the inheritable, permitted and effective sets to the config's, then
/// makes the ambient set exactly the config's.
///
/// The three base sets go in a single `capset`: set one at a time, the
/// kernel would reject an intermediate state (e.g. a still-full effective
/// set over an already reduced permitted set).
pub fn apply(caps: &LinuxCapabilities) -> Result<(), CapabilityError> {
    let sets = CapabilitySets {
        effective: to_set(caps.effective())?,
        permitted: to_set(caps.permitted())?,
        inheritable: to_set(caps.inheritable())?,
    };
    rustix::thread::set_capabilities(None, sets)
        .map_err(|reason| CapabilityError::SetSets { reason })?;

    rustix::thread::clear_ambient_capability_set()
        .map_err(|reason| CapabilityError::ClearAmbient { reason })?;
    for oci_cap in caps.ambient().iter().flatten() {
        // The kernel only allows ambient capabilities that are also permitted and
        // inheritable. Configs written by `runc spec` list ambient without
        // inheritable; runc warns and goes on, and so do we (silently: the
        // container's stderr is not ours to write to).
        let in_set = |set: &Option<oci_spec::runtime::Capabilities>| {
            set.as_ref().is_some_and(|s| s.contains(oci_cap))
        };
        if !in_set(caps.permitted()) || !in_set(caps.inheritable()) {
            continue;
        }
        let cap = from_oci(*oci_cap)?;
        rustix::thread::configure_capability_in_ambient_set(
            CapabilitySet::from_bits_retain(cap.bitmask()),
            true,
        )
        .map_err(|reason| CapabilityError::RaiseAmbient { cap, reason })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn linux_caps(v: serde_json::Value) -> LinuxCapabilities {
        serde_json::from_value(v).expect("valid LinuxCapabilities JSON")
    }

    #[test]
    fn parse_accepts_prefixed_and_bare_names_in_any_case() {
        for name in [
            "CAP_NET_ADMIN",
            "NET_ADMIN",
            "cap_net_admin",
            "net_admin",
            " Net_Admin ",
        ] {
            assert_eq!(parse(name).unwrap(), Capability::CAP_NET_ADMIN, "{name}");
        }
        assert_eq!(
            parse("CAP_CHECKPOINT_RESTORE").unwrap(),
            Capability::CAP_CHECKPOINT_RESTORE
        );
        let err = parse("CAP_NOT_A_THING").unwrap_err();
        assert!(err.to_string().contains("CAP_NOT_A_THING"), "{err}");
        assert!(parse("").is_err());
    }

    #[test]
    fn every_oci_capability_maps_to_a_caps_capability() {
        let all: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
        let set: Capabilities = serde_json::from_value(serde_json::json!(all)).unwrap();
        for cap in set {
            from_oci(cap).unwrap();
        }
    }

    #[test]
    fn parses_status_lines() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n";
        assert_eq!(parse_cap_line(status, "CapBnd"), Some(0x1fffeffffff));
        assert_eq!(parse_cap_line(status, "CapInh"), Some(0));
        assert_eq!(parse_cap_line(status, "CapAmb"), None);
    }

    #[test]
    fn config_beyond_injected_bounding_set_fails_naming_cap_and_sets() {
        let cfg = linux_caps(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_SYS_RESOURCE"],
            "permitted": ["CAP_KILL", "CAP_SYS_RESOURCE"],
            "effective": ["CAP_SYS_RESOURCE"],
            "ambient": ["CAP_KILL"]
        }));
        let without_sys_resource = !Capability::CAP_SYS_RESOURCE.bitmask();
        let err = check_with_bounding(&cfg, without_sys_resource).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("CAP_SYS_RESOURCE (in bounding, effective, permitted)"),
            "{msg}"
        );
        assert!(!msg.contains("CAP_KILL"), "{msg}");
        assert!(msg.contains("does not grant it"), "{msg}");

        check_with_bounding(&cfg, u64::MAX).expect("a host granting everything accepts it");
        check_with_bounding(&LinuxCapabilities::default(), 0)
            .expect_err("an empty bounding set grants nothing");
    }

    #[test]
    fn real_host_bounding_set_is_checked() {
        let host = host_bounding_set().unwrap();
        let cfg = linux_caps(serde_json::json!({"bounding": ["CAP_SYS_RESOURCE"]}));
        let result = check_against_bounding(&cfg);
        if host & Capability::CAP_SYS_RESOURCE.bitmask() == 0 {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains("CAP_SYS_RESOURCE (in bounding)"), "{msg}");
        } else {
            result.unwrap();
        }
    }

    /// Forks a child that runs `child` and writes its output to a pipe;
    /// returns (wait status, output).
    fn in_child(child: impl FnOnce() -> Result<String, String>) -> (i32, String) {
        let (mut rd, wr) = {
            let (r, w) = rustix::pipe::pipe().unwrap();
            (std::fs::File::from(r), std::fs::File::from(w))
        };
        // SAFETY: the child only makes plain syscalls and reads procfs, then
        // leaves with _exit; it never returns into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            drop(rd);
            let mut wr = wr;
            let (code, out) = match child() {
                Ok(out) => (0, out),
                Err(err) => (1, err),
            };
            let _ = wr.write_all(out.as_bytes());
            // SAFETY: ends the forked child without running the harness.
            unsafe { libc::_exit(code) };
        }
        drop(wr);
        let mut out = String::new();
        rd.read_to_string(&mut out).unwrap();
        let mut status = 0;
        // SAFETY: pid is our child and status a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        (status, out)
    }

    fn status_masks() -> Result<String, String> {
        let status = std::fs::read_to_string(PROC_STATUS).map_err(|e| e.to_string())?;
        let mut out = String::new();
        for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            let v = parse_cap_line(&status, key).ok_or(format!("no {key}"))?;
            out.push_str(&format!("{key}={v:x}\n"));
        }
        Ok(out)
    }

    #[test]
    fn child_drops_to_config_sets_as_non_root_user() {
        if host_bounding_set().unwrap() & Capability::CAP_SETPCAP.bitmask() == 0
            || !rustix::process::geteuid().is_root()
        {
            eprintln!("skipped: needs root with CAP_SETPCAP");
            return;
        }
        let cfg = linux_caps(serde_json::json!({
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]
        }));
        let (status, out) = in_child(|| {
            drop_bounding(&cfg).map_err(|e| e.to_string())?;
            rustix::thread::set_keep_capabilities(true).map_err(|e| e.to_string())?;
            let id = 1000;
            // SAFETY: plain id-changing syscalls in the single-threaded child.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setresgid(id, id, id) != 0
                    || libc::setresuid(id, id, id) != 0
                {
                    return Err(format!("setid: {}", std::io::Error::last_os_error()));
                }
            }
            apply(&cfg).map_err(|e| e.to_string())?;
            status_masks()
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{out}"
        );
        let kill_nbs = Capability::CAP_KILL.bitmask() | Capability::CAP_NET_BIND_SERVICE.bitmask();
        let bnd = kill_nbs | Capability::CAP_AUDIT_WRITE.bitmask();
        let amb = Capability::CAP_NET_BIND_SERVICE.bitmask();
        assert!(out.contains(&format!("CapInh={kill_nbs:x}\n")), "{out}");
        assert!(out.contains(&format!("CapPrm={kill_nbs:x}\n")), "{out}");
        assert!(out.contains(&format!("CapEff={kill_nbs:x}\n")), "{out}");
        assert!(out.contains(&format!("CapBnd={bnd:x}\n")), "{out}");
        assert!(out.contains(&format!("CapAmb={amb:x}\n")), "{out}");
    }

    #[test]
    fn child_reduces_sets_as_root_and_skips_ambient_outside_inheritable() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let cfg = linux_caps(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "ambient": ["CAP_CHOWN"]
        }));
        let (status, out) = in_child(|| {
            drop_bounding(&cfg).map_err(|e| e.to_string())?;
            // Like runc: an ambient capability the kernel would refuse (not
            // inheritable) is skipped, not an error.
            apply(&cfg).map_err(|e| e.to_string())?;
            status_masks()
        });
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{out}"
        );
        assert!(out.contains("CapAmb=0\n"), "{out}");
        let kill = Capability::CAP_KILL.bitmask();
        let both = kill | Capability::CAP_CHOWN.bitmask();
        assert!(out.contains(&format!("CapEff={kill:x}\n")), "{out}");
        assert!(out.contains(&format!("CapPrm={both:x}\n")), "{out}");
        assert!(out.contains(&format!("CapBnd={both:x}\n")), "{out}");
    }
}
