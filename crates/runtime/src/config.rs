//! Reading a bundle's config.json and checking, before anything is created, that the
//! runtime can honour it on this host.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Spec};

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let data = fs::read(&path).map_err(|source| RuntimeError::ConfigRead {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| RuntimeError::ConfigParse { path, source })
}

/// The rootfs as an absolute host path (a relative `root.path` is relative to the bundle).
pub fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::Config("root.path is missing".into()))?;
    let p = bundle.join(root.path());
    fs::canonicalize(&p).ctx(|| format!("root filesystem {}", p.display()))
}

pub fn namespace_kinds(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .into_iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

pub fn has_namespace(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    namespace_kinds(spec).iter().any(|(k, _)| *k == kind)
}

/// Checks what can be checked without touching the system, so a bad config fails before
/// any state, cgroup or process exists.
pub fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(RuntimeError::Config(format!(
            "ociVersion {version:?} is not supported: berth implements runtime-spec 1.0 to {}",
            crate::OCI_VERSION
        )));
    }
    let process = spec.process().as_ref();
    if let Some(p) = process {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(RuntimeError::Config(
                "process.args must not be empty".into(),
            ));
        }
        if !p.cwd().is_absolute() {
            return Err(RuntimeError::Config(format!(
                "process.cwd {:?} must be an absolute path",
                p.cwd()
            )));
        }
        if let Some(caps) = p.capabilities() {
            crate::capabilities::check_against_bounding(caps)?;
        }
        check_rlimits(p.rlimits().as_deref().unwrap_or_default())?;
        // Settings berth does not implement fail loudly: silently running a container
        // without a confinement or placement it asked for would be worse.
        let unsupported = [
            (
                "process.apparmorProfile",
                p.apparmor_profile().as_ref().is_some_and(|s| !s.is_empty()),
            ),
            ("process.scheduler", p.scheduler().is_some()),
            ("process.ioPriority", p.io_priority().is_some()),
            ("process.execCPUAffinity", p.exec_cpu_affinity().is_some()),
        ];
        for (what, set) in unsupported {
            if set {
                return Err(RuntimeError::Config(format!(
                    "{what} is not supported by berth yet: remove it from config.json"
                )));
            }
        }
    } else {
        return Err(RuntimeError::Config("process is missing".into()));
    }
    let mut seen = Vec::new();
    for (kind, _) in namespace_kinds(spec) {
        if seen.contains(&kind) {
            return Err(RuntimeError::Config(format!(
                "namespace {kind} is listed twice in linux.namespaces"
            )));
        }
        seen.push(kind);
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !has_namespace(spec, LinuxNamespaceType::Uts)
    {
        return Err(RuntimeError::Config(
            "hostname is set but there is no uts namespace: add {\"type\":\"uts\"} to linux.namespaces or drop the hostname".into(),
        ));
    }
    let linux = spec.linux().as_ref();
    let has_userns = has_namespace(spec, LinuxNamespaceType::User);
    if let Some(l) = linux {
        let maps = l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_userns
            && !maps
            && namespace_kinds(spec)
                .iter()
                .any(|(k, p)| *k == LinuxNamespaceType::User && p.is_none())
        {
            return Err(RuntimeError::Config(
                "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
            ));
        }
        if maps && !has_userns {
            return Err(RuntimeError::Config(
                "linux.uidMappings are set but there is no user namespace in linux.namespaces"
                    .into(),
            ));
        }
        let unsupported = [
            ("linux.intelRdt", l.intel_rdt().is_some()),
            ("linux.memoryPolicy", l.memory_policy().is_some()),
            (
                "linux.netDevices",
                l.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
            ),
        ];
        for (what, set) in unsupported {
            if set {
                return Err(RuntimeError::Config(format!(
                    "{what} is not supported by berth yet: remove it from config.json"
                )));
            }
        }
        if l.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
            && !namespace_kinds(spec)
                .iter()
                .any(|(k, p)| *k == LinuxNamespaceType::Time && p.is_none())
        {
            return Err(RuntimeError::Config(
                "linux.timeOffsets need a new time namespace in linux.namespaces".into(),
            ));
        }
    }
    Ok(())
}

pub fn rlimit_resource(t: PosixRlimitType) -> libc::c_int {
    use PosixRlimitType::*;
    (match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }) as libc::c_int
}

fn rlimit_name(t: PosixRlimitType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{t:?}"))
}

fn has_cap_sys_resource() -> bool {
    caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false)
}

/// A hard limit above the runtime's own can only be set with CAP_SYS_RESOURCE; hosts
/// differ (this is how a config written elsewhere fails here), so name the limit.
fn check_rlimits(rlimits: &[oci_spec::runtime::PosixRlimit]) -> Result<()> {
    for r in rlimits {
        if r.soft() > r.hard() {
            return Err(RuntimeError::Config(format!(
                "{}: soft limit {} is above hard limit {}",
                rlimit_name(r.typ()),
                r.soft(),
                r.hard()
            )));
        }
        let (_, host_hard) = sys::getrlimit(rlimit_resource(r.typ()))
            .ctx(|| format!("reading {}", rlimit_name(r.typ())))?;
        if r.hard() > host_hard && !has_cap_sys_resource() {
            return Err(RuntimeError::Config(format!(
                "{name} hard limit {want} is above this host's limit of {host_hard}, and raising it needs CAP_SYS_RESOURCE, which berth does not have here: lower {name} in process.rlimits to at most {host_hard}",
                name = rlimit_name(r.typ()),
                want = r.hard(),
            )));
        }
    }
    Ok(())
}
