//! `berth runtime spec`: a starter `config.json`, shaped like `runc spec`
//! (and `runc spec --rootless`), kept within what this host grants.

use std::io::Write;
use std::path::{Path, PathBuf};

use caps::Capability;
use oci_spec::runtime::{
    Capabilities, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxIdMappingBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder,
};

/// The runtime-spec version berth writes and implements.
pub const OCI_VERSION: &str = "1.2.0";

const CONFIG_FILE: &str = "config.json";

/// runc's default open-files limit for the container process.
const DEFAULT_NOFILE: u64 = 1024;

/// The capabilities `runc spec` gives the container.
const DEFAULT_CAPS: [Capability; 3] = [
    Capability::CAP_AUDIT_WRITE,
    Capability::CAP_KILL,
    Capability::CAP_NET_BIND_SERVICE,
];

/// Why the spec could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(
        "{path} already exists; berth does not overwrite a bundle's config, move or delete \
         it first"
    )]
    AlreadyExists { path: PathBuf },

    #[error(
        "cannot write {path}: {reason}; check that the bundle directory exists and is writable"
    )]
    Write {
        path: PathBuf,
        reason: std::io::Error,
    },

    #[error("cannot serialise the default spec for {path}: {reason}")]
    Serialize {
        path: PathBuf,
        reason: serde_json::Error,
    },
}

/// What this host allows a container to have, used to keep the defaults
/// startable here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLimits {
    /// The hard `RLIMIT_NOFILE` of this process (a container's limit cannot
    /// be raised above it without `CAP_SYS_RESOURCE`).
    pub nofile_hard: u64,
    /// The capability bounding set, as a bit mask by capability number.
    pub bounding: u64,
    /// Effective uid and gid, mapped to root in the rootless variant.
    pub euid: u32,
    pub egid: u32,
}

/// Reads the limits of the calling process.
pub fn host_limits() -> HostLimits {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let bounding = crate::capabilities::host_bounding_set().unwrap_or_else(|_| {
        // procfs unavailable: ask the kernel capability by capability.
        caps::all()
            .into_iter()
            .filter(|c| {
                let one = rustix::thread::CapabilitySet::from_bits_retain(c.bitmask());
                rustix::thread::capability_is_in_bounding_set(one).unwrap_or(false)
            })
            .fold(0, |acc, c| acc | c.bitmask())
    });
    HostLimits {
        nofile_hard: nofile.maximum.unwrap_or(u64::MAX),
        bounding,
        euid: rustix::process::geteuid().as_raw(),
        egid: rustix::process::getegid().as_raw(),
    }
}

/// The default spec for this host; see [`default_spec_for`].
pub fn default_spec(rootless: bool) -> Spec {
    default_spec_for(&host_limits(), rootless)
}

/// The `runc spec` config with ociVersion 1.2.0, hostname "berth", a cgroup
/// namespace, `RLIMIT_NOFILE` clamped to `host.nofile_hard` and only the
/// default capabilities `host.bounding` contains.
///
/// `rootless` applies what `runc spec --rootless` changes: a user namespace
/// mapping root to `host.euid`/`host.egid`, no network (or cgroup)
/// namespace, `/sys` bind-mounted instead of a new sysfs, no `gid=`/`uid=`
/// mount options and no cgroup resources.
pub fn default_spec_for(host: &HostLimits, rootless: bool) -> Spec {
    let caps: Capabilities = DEFAULT_CAPS
        .iter()
        .filter(|c| host.bounding & c.bitmask() != 0)
        // oci-spec's serde form is the CAP_-prefixed name caps displays.
        .filter_map(|c| serde_json::from_value(serde_json::Value::from(c.to_string())).ok())
        .collect();
    let nofile = DEFAULT_NOFILE.min(host.nofile_hard);

    // Builders start from oci-spec's Default impls, which fill in more than
    // runc writes (inheritable/ambient sets, empty resources); unset those.
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()
        .expect(BUILT);
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let process = ProcessBuilder::default()
        .terminal(true)
        .user(
            UserBuilder::default()
                .uid(0u32)
                .gid(0u32)
                .build()
                .expect(BUILT),
        )
        .args(vec!["sh".to_owned()])
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
            "TERM=xterm".to_owned(),
        ])
        .cwd("/")
        .capabilities(capabilities)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(nofile)
            .soft(nofile)
            .build()
            .expect(BUILT)])
        .no_new_privileges(true)
        .build()
        .expect(BUILT);

    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ];
    if rootless {
        // Without privileges there is nothing to configure a new network
        // namespace with; the user namespace makes the rest possible.
        namespaces
            .retain(|t| !matches!(t, LinuxNamespaceType::Network | LinuxNamespaceType::Cgroup));
        namespaces.push(LinuxNamespaceType::User);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|typ| {
            LinuxNamespaceBuilder::default()
                .typ(typ)
                .build()
                .expect(BUILT)
        })
        .collect::<Vec<_>>();

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .masked_paths(strings(&[
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
            "/sys/devices/virtual/tpm",
        ]))
        .readonly_paths(strings(&[
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ]))
        .build()
        .expect(BUILT);
    if rootless {
        let map = |host_id: u32| {
            vec![LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(host_id)
                .size(1u32)
                .build()
                .expect(BUILT)]
        };
        linux.set_uid_mappings(Some(map(host.euid)));
        linux.set_gid_mappings(Some(map(host.egid)));
        linux.set_resources(None);
    } else {
        linux.set_resources(Some(
            LinuxResourcesBuilder::default()
                .devices(vec![LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .access("rwm")
                    .build()
                    .expect(BUILT)])
                .build()
                .expect(BUILT),
        ));
    }

    let mut spec = SpecBuilder::default()
        .version(OCI_VERSION)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()
                .expect(BUILT),
        )
        .process(process)
        .hostname("berth")
        .mounts(default_mounts(rootless))
        .linux(linux)
        .build()
        .expect(BUILT);
    spec.set_annotations(None);
    spec
}

/// oci-spec builders only fail for fields without a default; every field
/// here has one.
const BUILT: &str = "oci-spec builder with all fields defaulted";

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn mount(destination: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut builder = MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source);
    if !options.is_empty() {
        builder = builder.options(strings(options));
    }
    builder.build().expect(BUILT)
}

fn default_mounts(rootless: bool) -> Vec<Mount> {
    // A rootless container cannot choose devpts' group: gid 5 is not mapped.
    let devpts_opts: &[&str] = if rootless {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]
    } else {
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ]
    };
    // Mounting a new sysfs needs a network namespace owned by the user
    // namespace; rootless has none, so it borrows the host's /sys.
    let sys = if rootless {
        mount(
            "/sys",
            "none",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", "ro"],
        )
    } else {
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )
    };
    vec![
        mount("/proc", "proc", "proc", &[]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount("/dev/pts", "devpts", "devpts", devpts_opts),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        sys,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", "ro"],
        ),
    ]
}

/// `spec` as pretty JSON. Capability sets are hash sets in oci-spec; they
/// are sorted here so the file is the same on every run.
pub fn spec_json(spec: &Spec) -> Result<String, serde_json::Error> {
    let mut value = serde_json::to_value(spec)?;
    if let Some(caps) = value
        .pointer_mut("/process/capabilities")
        .and_then(serde_json::Value::as_object_mut)
    {
        for set in caps.values_mut() {
            if let Some(list) = set.as_array_mut() {
                list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_string_pretty(&value)
}

/// Writes the default spec to `bundle/config.json`. Like runc, an existing
/// config is never overwritten.
pub fn write_spec(bundle: &Path, rootless: bool) -> Result<(), SpecError> {
    let path = bundle.join(CONFIG_FILE);
    let json = spec_json(&default_spec(rootless)).map_err(|reason| SpecError::Serialize {
        path: path.clone(),
        reason,
    })?;
    // create_new makes the existence check and the creation one step, so a
    // config appearing meanwhile is not clobbered either.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|reason| {
            if reason.kind() == std::io::ErrorKind::AlreadyExists {
                SpecError::AlreadyExists { path: path.clone() }
            } else {
                SpecError::Write {
                    path: path.clone(),
                    reason,
                }
            }
        })?;
    file.write_all(json.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|reason| SpecError::Write { path, reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn host() -> HostLimits {
        HostLimits {
            nofile_hard: 1 << 20,
            bounding: u64::MAX,
            euid: 1234,
            egid: 5678,
        }
    }

    fn as_json(spec: &Spec) -> Value {
        serde_json::from_str(&spec_json(spec).unwrap()).unwrap()
    }

    #[test]
    fn default_matches_runc_shape() {
        let v = as_json(&default_spec_for(&host(), false));
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["root"], json!({"path": "rootfs", "readonly": true}));
        assert_eq!(v["hostname"], "berth");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "hostname",
                "linux",
                "mounts",
                "ociVersion",
                "process",
                "root"
            ],
            "no keys runc spec does not write"
        );
        let p = &v["process"];
        assert_eq!(p["terminal"], true);
        assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
        assert_eq!(p["args"], json!(["sh"]));
        assert_eq!(p["cwd"], "/");
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["env"][1], "TERM=xterm");
        let three = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        assert_eq!(
            p["capabilities"],
            json!({"bounding": three, "effective": three, "permitted": three})
        );
        assert_eq!(
            p["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}])
        );

        let mounts = v["mounts"].as_array().unwrap();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
        assert_eq!(
            mounts[0],
            json!({"destination": "/proc", "type": "proc", "source": "proc"})
        );
        assert_eq!(mounts[2]["options"][5], "gid=5");
        assert_eq!(mounts[5]["type"], "sysfs");

        let l = &v["linux"];
        assert_eq!(
            l["resources"],
            json!({"devices": [{"allow": false, "access": "rwm"}]})
        );
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        assert!(l["maskedPaths"]
            .as_array()
            .unwrap()
            .contains(&json!("/proc/kcore")));
        assert_eq!(l["readonlyPaths"][3], "/proc/sys");
        assert!(l.get("uidMappings").is_none());
    }

    #[test]
    fn rootless_matches_runc_rootless_shape() {
        let v = as_json(&default_spec_for(&host(), true));
        let l = &v["linux"];
        assert_eq!(
            l["uidMappings"],
            json!([{"containerID": 0, "hostID": 1234, "size": 1}])
        );
        assert_eq!(
            l["gidMappings"],
            json!([{"containerID": 0, "hostID": 5678, "size": 1}])
        );
        let ns: Vec<&str> = l["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "user"]);
        assert!(l.get("resources").is_none());
        let sys = &v["mounts"][5];
        assert_eq!(
            *sys,
            json!({"destination": "/sys", "type": "none", "source": "/sys",
                   "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        );
        let devpts = v["mounts"][2]["options"].as_array().unwrap();
        assert!(!devpts
            .iter()
            .any(|o| o.as_str().unwrap().starts_with("gid=")));
    }

    #[test]
    fn defaults_stay_within_host_limits() {
        let tight = HostLimits {
            nofile_hard: 512,
            bounding: Capability::CAP_KILL.bitmask(),
            ..host()
        };
        let v = as_json(&default_spec_for(&tight, false));
        assert_eq!(
            v["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512}])
        );
        assert_eq!(
            v["process"]["capabilities"]["effective"],
            json!(["CAP_KILL"])
        );

        // And on this very host the result passes the capability check.
        let spec = default_spec(false);
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        crate::capabilities::check_against_bounding(caps).unwrap();
    }

    #[test]
    fn write_spec_creates_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        write_spec(dir.path(), false).unwrap();
        let path = dir.path().join("config.json");
        let written = std::fs::read_to_string(&path).unwrap();
        let parsed: Spec = serde_json::from_str(&written).expect("oci-spec reads it back");
        assert_eq!(parsed.version(), "1.2.0");

        let err = write_spec(dir.path(), true).unwrap_err();
        assert!(matches!(err, SpecError::AlreadyExists { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            written,
            "untouched"
        );

        let missing = dir.path().join("no-such-bundle");
        let err = write_spec(&missing, false).unwrap_err();
        assert!(matches!(err, SpecError::Write { .. }), "{err}");
    }
}
