//! `berth runtime features`: the runtime-spec features document, telling
//! callers which config values this runtime recognises.

use serde_json::{json, Value};

/// Oldest and newest `ociVersion` a config may have.
pub const OCI_VERSION_MIN: &str = "1.0.0";
pub const OCI_VERSION_MAX: &str = "1.2.0";

/// Hook names recognised in `config.json` (`prestart` is deprecated by the
/// spec but still run).
pub const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Every mount option name the runtime parses (filesystem-specific `data`
/// options such as `mode=` pass through to mount(2) and are not listed).
pub const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Namespace types accepted in `linux.namespaces`.
pub const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// Seccomp actions accepted in `linux.seccomp`.
pub const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Seccomp argument operators accepted in `linux.seccomp`.
pub const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// The features document. Seccomp archs and supported flags come from the
/// linked libseccomp (and, for flags, the running kernel), as runc does;
/// everything else is fixed at build time.
pub fn features() -> Value {
    let mut capabilities: Vec<caps::Capability> = caps::all().into_iter().collect();
    capabilities.sort_by_key(|c| c.index());
    let capabilities: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();

    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "io.github.berth.version".into(),
        env!("CARGO_PKG_VERSION").into(),
    );
    if let Ok(v) = libseccomp::ScmpVersion::current() {
        annotations.insert(
            "io.github.seccomp.libseccomp.version".into(),
            format!("{}.{}.{}", v.major, v.minor, v.micro).into(),
        );
    }

    json!({
        "ociVersionMin": OCI_VERSION_MIN,
        "ociVersionMax": OCI_VERSION_MAX,
        "hooks": HOOKS,
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACES,
            "capabilities": capabilities,
            "cgroup": {
                "v1": true,
                "v2": true,
                "systemd": false,
                "systemdUser": false,
                "rdma": false,
            },
            "seccomp": {
                "enabled": true,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": crate::seccomp::supported_archs(),
                "knownFlags": crate::seccomp::KNOWN_FLAGS,
                "supportedFlags": crate::seccomp::supported_flags(),
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}},
        },
        "annotations": annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &Value) -> Vec<&str> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|s| s.as_str().expect("string"))
            .collect()
    }

    #[test]
    fn document_has_required_keys_and_values() {
        let f = features();
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], "1.2.0");
        assert!(strs(&f["hooks"]).contains(&"createRuntime"));
        for opt in ["rro", "nosymfollow", "tmpcopyup", "bind"] {
            assert!(strs(&f["mountOptions"]).contains(&opt), "{opt}");
        }
        let l = &f["linux"];
        assert!(strs(&l["capabilities"]).contains(&"CAP_SYS_ADMIN"));
        assert!(strs(&l["capabilities"]).contains(&"CAP_CHECKPOINT_RESTORE"));
        assert_eq!(strs(&l["namespaces"]).len(), 8);
        assert_eq!(l["cgroup"]["v2"], true);
        assert_eq!(l["cgroup"]["systemd"], false);
        let sc = &l["seccomp"];
        assert_eq!(sc["enabled"], true);
        assert!(strs(&sc["actions"]).contains(&"SCMP_ACT_NOTIFY"));
        assert!(strs(&sc["operators"]).contains(&"SCMP_CMP_MASKED_EQ"));
        let native = if cfg!(target_arch = "x86_64") {
            "SCMP_ARCH_X86_64"
        } else if cfg!(target_arch = "aarch64") {
            "SCMP_ARCH_AARCH64"
        } else {
            "SCMP_ARCH_X86_64"
        };
        assert!(strs(&sc["archs"]).contains(&native));
        let known = strs(&sc["knownFlags"]);
        for flag in strs(&sc["supportedFlags"]) {
            assert!(known.contains(&flag), "{flag} supported but not known");
        }
        assert_eq!(l["apparmor"]["enabled"], false);
        assert_eq!(l["mountExtensions"]["idmap"]["enabled"], false);
        assert_eq!(
            f["annotations"]["io.github.berth.version"],
            env!("CARGO_PKG_VERSION")
        );
    }

    #[test]
    fn oci_spec_parses_the_document() {
        let parsed: oci_spec::runtime::Features =
            serde_json::from_value(features()).expect("oci-spec accepts the features document");
        assert_eq!(parsed.oci_version_max(), OCI_VERSION_MAX);
    }

    #[test]
    fn every_listed_action_and_arch_is_accepted_by_the_seccomp_module() {
        for action in SECCOMP_ACTIONS {
            let cfg: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": action}]
            }))
            .unwrap();
            crate::seccomp::build_filter(&cfg).unwrap_or_else(|e| panic!("{action}: {e}"));
        }
        // libseccomp refuses arches whose byte order differs from the native
        // one (EDOM); those must fail cleanly, the native family must work.
        let native_family: &[&str] = if cfg!(target_arch = "x86_64") {
            &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        } else if cfg!(target_arch = "aarch64") {
            &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
        } else {
            &[]
        };
        for arch in crate::seccomp::supported_archs() {
            let cfg: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "architectures": [arch],
            }))
            .unwrap();
            let result = crate::seccomp::build_filter(&cfg);
            if native_family.contains(&arch) {
                assert!(result.is_ok(), "{arch}");
            }
            if let Err(e) = &result {
                assert!(
                    matches!(e, crate::seccomp::SeccompError::Arch { .. }),
                    "{arch}: {e}"
                );
            }
        }
    }
}
