//! The OCI runtime config (`config.json`) for a container: its settings plus the image
//! defaults already merged at create time, and Docker's defaults for everything the
//! user did not say (capabilities, seccomp, masked paths, devices, mounts).

pub mod devices;
pub mod init;
pub mod mounts;
mod resources;

/// `linux.resources` for `update`: the limits without device rules.
pub fn resources_for_update(h: &crate::model::HostConfig) -> Value {
    resources::build(h, Vec::new())
}
pub mod users;

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::model::Settings;
use crate::security;
use mounts::{MountInput, UserMount};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct SpecInput<'a> {
    pub id: &'a str,
    pub settings: &'a Settings,
    pub rootfs: &'a Path,
    pub etc_dir: &'a Path,
    pub user_mounts: Vec<UserMount>,
    pub cgroup_v2: bool,
    /// The engine-made network namespace of a bridge-networked container, joined by
    /// path instead of a new empty one.
    pub netns: Option<&'a Path>,
}

/// The process's argv: Docker's Entrypoint + Cmd.
pub fn argv(s: &Settings) -> Vec<String> {
    let c = &s.config;
    c.entrypoint
        .iter()
        .chain(c.cmd.iter())
        .flatten()
        .cloned()
        .collect()
}

fn env(s: &Settings, home: &str) -> Vec<String> {
    let mut env = s.config.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.insert(1.min(env.len()), format!("HOSTNAME={}", s.config.hostname));
    }
    if s.config.tty && !has(&env, "TERM") {
        env.push("TERM=xterm".into());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

const RLIMITS: &[(&str, &str)] = &[
    ("core", "RLIMIT_CORE"),
    ("cpu", "RLIMIT_CPU"),
    ("data", "RLIMIT_DATA"),
    ("fsize", "RLIMIT_FSIZE"),
    ("locks", "RLIMIT_LOCKS"),
    ("memlock", "RLIMIT_MEMLOCK"),
    ("msgqueue", "RLIMIT_MSGQUEUE"),
    ("nice", "RLIMIT_NICE"),
    ("nofile", "RLIMIT_NOFILE"),
    ("nproc", "RLIMIT_NPROC"),
    ("rss", "RLIMIT_RSS"),
    ("rtprio", "RLIMIT_RTPRIO"),
    ("rttime", "RLIMIT_RTTIME"),
    ("sigpending", "RLIMIT_SIGPENDING"),
    ("stack", "RLIMIT_STACK"),
    ("as", "RLIMIT_AS"),
];

pub fn rlimit_name(name: &str) -> Option<&'static str> {
    RLIMITS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// Sysctls a container may set: those the kernel namespaces (IPC and, when the
/// container has its own network namespace, net.*), as Docker allows.
fn check_sysctl(key: &str, host_network: bool) -> Result<()> {
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    let net = key.starts_with("net.");
    if ipc || (net && !host_network) {
        return Ok(());
    }
    let why = if net {
        "net.* sysctls cannot be set with --network host"
    } else {
        "only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set"
    };
    Err(EngineError::invalid(format!("sysctl {key:?}"), why))
}

pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: SeccompChoice,
}

pub enum SeccompChoice {
    Default,
    Unconfined,
    File(String),
}

pub fn security_opts(opts: &[String]) -> Result<SecurityOpts> {
    let mut out = SecurityOpts {
        no_new_privileges: false,
        seccomp: SeccompChoice::Default,
    };
    for o in opts {
        let (k, v) = o.split_once(['=', ':']).unwrap_or((o.as_str(), ""));
        match (k, v) {
            ("no-new-privileges", "" | "true") => out.no_new_privileges = true,
            ("no-new-privileges", "false") => out.no_new_privileges = false,
            ("seccomp", "unconfined") => out.seccomp = SeccompChoice::Unconfined,
            ("seccomp", f) if !f.is_empty() => out.seccomp = SeccompChoice::File(f.to_string()),
            // No SELinux or AppArmor policy is loaded by berth; these say "none",
            // which is what berth does.
            ("label", "disable") | ("apparmor", "unconfined") => {}
            _ => {
                return Err(EngineError::invalid(
                    format!("--security-opt {o:?}"),
                    "supported: seccomp=FILE|unconfined, no-new-privileges[=true|false], label=disable, apparmor=unconfined",
                ))
            }
        }
    }
    Ok(out)
}

pub fn build(input: SpecInput<'_>) -> Result<Value> {
    let s = input.settings;
    let h = &s.host_config;
    let user = users::resolve(input.rootfs, &s.config.user, &h.group_add)?;
    let mut args = argv(s);
    if args.is_empty() {
        return Err(EngineError::invalid(
            format!("container {}", &input.id[..12]),
            "No command specified",
        ));
    }
    let sec = security_opts(&h.security_opt)?;
    let caps = security::resolve(&h.cap_add, &h.cap_drop, h.privileged)?;
    let host_network = h.network_mode == "host";

    let mut rlimits = Vec::new();
    for u in &h.ulimits {
        let t = rlimit_name(&u.name).ok_or_else(|| {
            EngineError::invalid(format!("ulimit {:?}", u.name), "unknown resource")
        })?;
        rlimits.push(json!({"type": t, "soft": u.soft, "hard": u.hard}));
    }
    let mut process = json!({
        "terminal": s.config.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env(s, &user.home),
        "cwd": if s.config.working_dir.is_empty() { "/" } else { &s.config.working_dir },
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        "noNewPrivileges": sec.no_new_privileges,
    });
    if !rlimits.is_empty() {
        process["rlimits"] = Value::Array(rlimits);
    }
    if h.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(h.oom_score_adj);
    }

    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match input.netns {
        Some(p) => namespaces.push(json!({"type": "network", "path": p})),
        None if !host_network => namespaces.push(json!({"type": "network"})),
        None => {}
    }
    // Docker's default on cgroup v2 hosts is a private cgroup namespace; on v1 the
    // host's.
    if input.cgroup_v2 {
        namespaces.push(json!({"type": "cgroup"}));
    }

    let devs = devices::build(&h.devices, h.privileged)?;
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": format!("/berth/{}", input.id),
        "resources": resources::build(h, devs.rules),
        "devices": devs.nodes,
    });
    if !h.privileged {
        linux["maskedPaths"] = json!(security::masked_paths());
        linux["readonlyPaths"] = json!(security::readonly_paths());
    }
    let seccomp = if h.privileged {
        None
    } else {
        match &sec.seccomp {
            SeccompChoice::Default => Some(security::default_profile(&caps)),
            SeccompChoice::Unconfined => None,
            SeccompChoice::File(f) => Some(security::load_profile(Path::new(f), &caps)?),
        }
    };
    if let Some(sc) = seccomp {
        linux["seccomp"] = serde_json::to_value(sc).map_err(|e| EngineError::Json {
            what: "seccomp profile".into(),
            why: e.to_string(),
        })?;
    }
    if !h.sysctls.is_empty() {
        for k in h.sysctls.keys() {
            check_sysctl(k, host_network)?;
        }
        linux["sysctl"] = json!(h.sysctls);
    }

    let etc = input.etc_dir.to_string_lossy().into_owned();
    let mounts = mounts::build(&MountInput {
        etc_dir: &etc,
        shm_size: h.shm_size,
        privileged: h.privileged,
        readonly_rootfs: h.readonly_rootfs,
        user: &input.user_mounts,
    });
    let mut mounts = mounts;
    if h.init == Some(true) {
        let (m, wrapped) = init::wrap(&init::find()?, args);
        mounts.push(m);
        args = wrapped;
        process["args"] = json!(args);
    }
    let mut spec = json!({
        "ociVersion": berth_runtime::OCI_VERSION,
        "process": process,
        "root": {"path": input.rootfs, "readonly": h.readonly_rootfs},
        "hostname": s.config.hostname,
        "mounts": mounts,
        "linux": linux,
    });
    if !s.config.domainname.is_empty() {
        spec["domainname"] = json!(s.config.domainname);
    }
    Ok(spec)
}

/// The healthcheck's process for `runtime exec --process`: the container's user,
/// environment and working directory, with the check's command.
pub fn health_process(spec: &Value, test: &[String]) -> Option<Value> {
    let args: Vec<String> = match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
        _ => return None,
    };
    if args.is_empty() {
        return None;
    }
    let mut p = spec["process"].clone();
    p["args"] = json!(args);
    p["terminal"] = json!(false);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_rules() {
        assert!(check_sysctl("net.ipv4.ip_forward", false).is_ok());
        assert!(check_sysctl("net.ipv4.ip_forward", true).is_err());
        assert!(check_sysctl("kernel.shmmax", true).is_ok());
        assert!(check_sysctl("kernel.hostname", false).is_err());
    }

    #[test]
    fn security_options() {
        let o = security_opts(&["no-new-privileges".into(), "seccomp=unconfined".into()]).unwrap();
        assert!(o.no_new_privileges);
        assert!(matches!(o.seccomp, SeccompChoice::Unconfined));
        assert!(security_opts(&["label=disable".into()]).is_ok());
        assert!(security_opts(&["label=type:foo".into()]).is_err());
    }

    #[test]
    fn environment_gets_path_hostname_home() {
        let mut s = Settings::default();
        s.config.hostname = "h1".into();
        s.config.env = vec!["A=1".into()];
        let e = env(&s, "/root");
        assert_eq!(e[0], format!("PATH={DEFAULT_PATH}"));
        assert!(e.contains(&"HOSTNAME=h1".to_string()));
        assert!(e.contains(&"HOME=/root".to_string()));
        assert!(e.contains(&"A=1".to_string()));
    }

    #[test]
    fn health_process_forms() {
        let spec = json!({"process": {"args": ["x"], "env": ["A=1"], "terminal": true}});
        let p = health_process(&spec, &["CMD-SHELL".into(), "true".into()]).unwrap();
        assert_eq!(p["args"], json!(["/bin/sh", "-c", "true"]));
        assert_eq!(p["terminal"], json!(false));
        let p = health_process(&spec, &["CMD".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(p["args"], json!(["a", "b"]));
        assert!(health_process(&spec, &["NONE".into()]).is_none());
    }
}
