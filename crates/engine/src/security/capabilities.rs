//! The container's capability set: Docker's default, and `--cap-add`,
//! `--cap-drop` and `--privileged` applied to it the way Docker does.

use std::collections::BTreeSet;
use std::path::Path;

use super::SecurityError;

/// Docker's default capabilities for a container that is not privileged.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Capability names indexed by their number, from the runtime's table (the caps
/// crate's). A kernel newer than this table may know more; those cannot be named,
/// so berth never hands them out, as Docker does with its own table.
fn cap_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let known = berth_runtime::capabilities::known();
        // Numbers are dense from 0; stop at a gap rather than misnumber.
        known
            .iter()
            .enumerate()
            .take_while(|(i, (n, _))| i == n)
            .map(|(_, (_, name))| name.clone())
            .collect()
    })
}

const CAP_LAST_CAP: &str = "/proc/sys/kernel/cap_last_cap";
const SELF_STATUS: &str = "/proc/self/status";

/// What the host lets berth hand to a container: the capabilities the
/// running kernel knows, and of those the ones in berth's own bounding set
/// (a container can never gain one its runtime's bounding set lacks; asking
/// for it makes the runtime fail late and obscurely).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HostCaps {
    last_cap: usize,
    bounding: u64,
}

impl HostCaps {
    pub(crate) fn detect() -> Result<HostCaps, SecurityError> {
        let read = |path: &str| {
            std::fs::read_to_string(path).map_err(|source| SecurityError::HostCapabilities {
                path: Path::new(path).to_path_buf(),
                source,
            })
        };
        let bad = |path: &str, what: &str| SecurityError::HostCapabilities {
            path: Path::new(path).to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()),
        };
        let last_cap = read(CAP_LAST_CAP)?
            .trim()
            .parse()
            .map_err(|_| bad(CAP_LAST_CAP, "not a number"))?;
        let bounding = berth_runtime::capabilities::host_bounding_set()
            .map_err(|e| bad(SELF_STATUS, &e.to_string()))?;
        Ok(HostCaps { last_cap, bounding })
    }

    /// Asks the kernel capability by capability, for when /proc cannot be read.
    fn probe() -> HostCaps {
        let mut last_cap = 0;
        let mut bounding = 0;
        for n in 0..cap_names().len() {
            let one = rustix::thread::CapabilitySet::from_bits_retain(1 << n);
            match rustix::thread::capability_is_in_bounding_set(one) {
                Ok(held) => {
                    last_cap = n;
                    if held {
                        bounding |= 1 << n;
                    }
                }
                // EINVAL: the kernel does not know this capability, nor any later one.
                Err(_) => break,
            }
        }
        HostCaps { last_cap, bounding }
    }

    /// Why the host does not grant capability `n`, or `None` if it does.
    fn refusal(&self, n: usize) -> Option<&'static str> {
        if n > self.last_cap {
            Some("the running kernel does not know it")
        } else if self.bounding & (1 << n) == 0 {
            Some("it is not in the bounding set berth runs with")
        } else {
            None
        }
    }

    fn all(&self) -> BTreeSet<usize> {
        (0..cap_names().len())
            .filter(|&n| self.refusal(n).is_none())
            .collect()
    }
}

/// Every capability the running kernel knows and berth's bounding set holds:
/// what `--privileged` and `--cap-add ALL` give.
pub fn all_caps() -> Vec<String> {
    let host = HostCaps::detect().unwrap_or_else(|_| HostCaps::probe());
    names(host.all())
}

/// The container's capabilities for `--cap-add`, `--cap-drop` and
/// `--privileged`, sorted and without duplicates.
///
/// Follows Docker: names are case-insensitive and may omit `CAP_`;
/// `--privileged` gives every capability and ignores both lists;
/// `--cap-add ALL` gives every capability but the dropped ones;
/// `--cap-drop ALL` gives exactly the added ones; otherwise the dropped ones
/// leave the default set first and the added ones join afterwards, so a
/// capability named in both lists is kept.
///
/// Capabilities that arrive implicitly (the default set, ALL, privileged) and
/// that the host does not grant are left out; one named in `--cap-add` that
/// the host does not grant is an error, since the user asked for it.
pub fn resolve(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SecurityError> {
    resolve_on(&HostCaps::detect()?, cap_add, cap_drop, privileged)
}

/// A capability list entry after normalising: ALL, or a capability number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    All,
    Cap(usize),
}

fn parse_entries(list: &[String], flag: &'static str) -> Result<Vec<Entry>, SecurityError> {
    list.iter()
        .map(|raw| {
            let upper = raw.trim().to_ascii_uppercase();
            if upper == "ALL" {
                return Ok(Entry::All);
            }
            let full = if upper.starts_with("CAP_") {
                upper
            } else {
                format!("CAP_{upper}")
            };
            number_of(&full)
                .map(Entry::Cap)
                .ok_or_else(|| SecurityError::UnknownCapability {
                    name: raw.clone(),
                    flag,
                })
        })
        .collect()
}

fn number_of(full_name: &str) -> Option<usize> {
    cap_names().iter().position(|n| n == full_name)
}

fn names(set: BTreeSet<usize>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().map(|n| cap_names()[n].clone()).collect();
    v.sort();
    v
}

pub(crate) fn resolve_on(
    host: &HostCaps,
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, SecurityError> {
    if privileged {
        return Ok(names(host.all()));
    }
    // Both lists are checked before anything is applied, so a typo is
    // reported even where the other list would have made it irrelevant.
    let drops = parse_entries(cap_drop, "--cap-drop")?;
    let adds = parse_entries(cap_add, "--cap-add")?;
    let dropped: BTreeSet<usize> = drops
        .iter()
        .filter_map(|e| match e {
            Entry::Cap(n) => Some(*n),
            Entry::All => None,
        })
        .collect();
    let mut explicit: BTreeSet<usize> = adds
        .iter()
        .filter_map(|e| match e {
            Entry::Cap(n) => Some(*n),
            Entry::All => None,
        })
        .collect();

    let implicit: BTreeSet<usize> = if adds.contains(&Entry::All) {
        // Docker's ALL branch takes everything but the drops and does not
        // re-add named capabilities afterwards.
        explicit.retain(|n| !dropped.contains(n));
        (0..cap_names().len())
            .filter(|n| !dropped.contains(n))
            .collect()
    } else if drops.contains(&Entry::All) {
        BTreeSet::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter_map(|c| number_of(c))
            .filter(|n| !dropped.contains(n))
            .collect()
    };

    for &n in &explicit {
        if let Some(why) = host.refusal(n) {
            return Err(SecurityError::CapabilityNotGranted {
                name: cap_names()[n].clone(),
                why,
            });
        }
    }
    let granted = implicit
        .into_iter()
        .filter(|&n| host.refusal(n).is_none())
        .chain(explicit);
    Ok(names(granted.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_name_table_is_numbered_like_the_kernel() {
        let names = cap_names();
        assert_eq!(names[0], "CAP_CHOWN");
        assert_eq!(names[21], "CAP_SYS_ADMIN");
        assert_eq!(names[39], "CAP_BPF");
        assert_eq!(names[40], "CAP_CHECKPOINT_RESTORE");
    }

    /// This machine's situation: a 6.x kernel (last cap 40) and a bounding
    /// set without CAP_SYS_RESOURCE (24).
    const HOST: HostCaps = HostCaps {
        last_cap: 40,
        bounding: 0x1ff_ffff_ffff & !(1 << 24),
    };

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn run(add: &[&str], drop: &[&str], privileged: bool) -> Result<Vec<String>, SecurityError> {
        resolve_on(&HOST, &s(add), &s(drop), privileged)
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v = s(v);
        v.sort();
        v
    }

    #[test]
    fn table_numbers_match_the_kernel_header() {
        assert_eq!(number_of("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number_of("CAP_SYS_RESOURCE"), Some(24));
        assert_eq!(number_of("CAP_AUDIT_WRITE"), Some(29));
        assert_eq!(number_of("CAP_CHECKPOINT_RESTORE"), Some(40));
        for c in DEFAULT_CAPS {
            assert!(number_of(c).is_some(), "{c}");
        }
    }

    #[test]
    fn no_flags_give_the_default_set() {
        assert_eq!(run(&[], &[], false).unwrap(), sorted(DEFAULT_CAPS));
    }

    #[test]
    fn add_accepts_prefixless_and_lowercase_names() {
        let got = run(&["net_admin", "CAP_sys_ptrace", "Sys_Admin"], &[], false).unwrap();
        for c in [
            "CAP_NET_ADMIN",
            "CAP_SYS_PTRACE",
            "CAP_SYS_ADMIN",
            "CAP_CHOWN",
        ] {
            assert!(got.contains(&c.to_string()), "{c} missing: {got:?}");
        }
        assert_eq!(got.len(), DEFAULT_CAPS.len() + 3);
    }

    #[test]
    fn drop_removes_from_the_default_set() {
        let got = run(&[], &["chown", "CAP_NET_RAW"], false).unwrap();
        assert!(!got.contains(&"CAP_CHOWN".to_string()));
        assert!(!got.contains(&"CAP_NET_RAW".to_string()));
        assert_eq!(got.len(), DEFAULT_CAPS.len() - 2);
    }

    #[test]
    fn result_is_sorted_and_deduplicated() {
        let got = run(&["KILL", "cap_kill", "NET_ADMIN"], &[], false).unwrap();
        let mut want = got.clone();
        want.sort();
        want.dedup();
        assert_eq!(got, want);
        assert_eq!(got.iter().filter(|c| *c == "CAP_KILL").count(), 1);
    }

    #[test]
    fn drop_all_then_add_gives_only_the_added() {
        assert_eq!(
            run(&["NET_BIND_SERVICE"], &["ALL"], false).unwrap(),
            s(&["CAP_NET_BIND_SERVICE"])
        );
        assert!(run(&[], &["all"], false).unwrap().is_empty());
    }

    #[test]
    fn add_all_gives_every_granted_cap_but_the_dropped() {
        let got = run(&["ALL"], &["SYS_ADMIN"], false).unwrap();
        assert!(!got.contains(&"CAP_SYS_ADMIN".to_string()));
        // Not in the bounding set: silently absent, not an error.
        assert!(!got.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(got.contains(&"CAP_BPF".to_string()));
        assert_eq!(got.len(), 41 - 2);
    }

    #[test]
    fn same_cap_in_add_and_drop_is_kept_as_docker_does() {
        let got = run(&["NET_ADMIN"], &["NET_ADMIN"], false).unwrap();
        assert!(got.contains(&"CAP_NET_ADMIN".to_string()));
    }

    #[test]
    fn privileged_gives_all_granted_and_ignores_the_lists() {
        let got = run(&[], &["ALL"], true).unwrap();
        assert_eq!(got.len(), 40);
        assert!(!got.contains(&"CAP_SYS_RESOURCE".to_string()));
        assert!(got.contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let e = run(&["NET_ADMINN"], &[], false).unwrap_err().to_string();
        assert!(e.contains("NET_ADMINN") && e.contains("--cap-add"), "{e}");
        let e = run(&[], &["CAP_ALL"], false).unwrap_err().to_string();
        assert!(e.contains("CAP_ALL") && e.contains("--cap-drop"), "{e}");
    }

    #[test]
    fn explicit_add_the_host_lacks_is_an_error() {
        let e = run(&["SYS_RESOURCE"], &[], false).unwrap_err().to_string();
        assert!(e.contains("CAP_SYS_RESOURCE"), "{e}");
        assert!(e.contains("does not grant"), "{e}");
        // Dropped again: nothing asked for remains, so no error.
        assert!(run(&["ALL", "SYS_RESOURCE"], &["SYS_RESOURCE"], false).is_ok());
    }

    #[test]
    fn caps_the_kernel_does_not_know_are_refused_or_left_out() {
        let old = HostCaps {
            last_cap: 37,
            bounding: u64::MAX,
        };
        let e = resolve_on(&old, &s(&["BPF"]), &[], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("kernel does not know"), "{e}");
        let all = resolve_on(&old, &[], &[], true).unwrap();
        assert_eq!(all.len(), 38);
    }

    #[test]
    fn default_caps_missing_from_the_host_are_left_out() {
        let no_mknod = HostCaps {
            last_cap: 40,
            bounding: !(1 << 27),
        };
        let got = resolve_on(&no_mknod, &[], &[], false).unwrap();
        assert!(!got.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(got.len(), DEFAULT_CAPS.len() - 1);
    }

    #[test]
    fn all_caps_stays_within_this_process_bounding_set() {
        let host = HostCaps::detect().expect("procfs");
        let all = all_caps();
        for c in &all {
            let n = number_of(c).unwrap();
            assert!(host.bounding & (1 << n) != 0, "{c} not in CapBnd");
        }
        let probed = HostCaps::probe();
        assert_eq!(names(probed.all()), all);
    }
}
