//! exec beyond the basics: cgroup membership, user and capability
//! options, a missing cwd, the config's environment.

mod common;

use common::host;

fn running(name: &str) -> Option<common::TestCtx> {
    let mut t = common::setup(name)?;
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    Some(t)
}

/// The exec'd process is in every cgroup the init is in (host view).
#[test]
fn exec_joins_all_container_cgroups() {
    let Some(t) = running("exec_joins_all_container_cgroups") else {
        return;
    };
    let st = t.state();
    let pid_file = t.path("exec.pid");
    let pf = pid_file.display().to_string();
    t.exec(&["-d", "--pid-file", &pf], &["sleep", "1000"])
        .check();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let cg = |pid: &str| {
        let mut v: Vec<String> = std::fs::read_to_string(format!("/proc/{}/cgroup", pid.trim()))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    let init = cg(&st.pid.to_string());
    assert_eq!(cg(&pid), init);
    let needle = format!("/{}/{}", host::CGROUP_PARENT, t.id);
    assert!(init.iter().any(|l| l.ends_with(&needle)), "{init:?}");
}

#[test]
fn exec_user_and_additional_gids() {
    let Some(t) = running("exec_user_and_additional_gids") else {
        return;
    };
    let out = t
        .exec(
            &[
                "--user",
                "1000:1001",
                "--additional-gids",
                "20",
                "--additional-gids",
                "21",
            ],
            &["sh", "-c", "id -u; id -g; id -G"],
        )
        .check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"1000"), "{out}");
    assert_eq!(lines.get(1), Some(&"1001"), "{out}");
    let groups: Vec<&str> = lines.get(2).unwrap_or(&"").split_whitespace().collect();
    for g in ["1001", "20", "21"] {
        assert!(groups.contains(&g), "group {g} missing: {out}");
    }
}

#[test]
fn exec_cap_adds_capability() {
    let Some(t) = running("exec_cap_adds_capability") else {
        return;
    };
    let bit = 1u64 << host::cap_bit("CAP_SYS_ADMIN");
    let eff = |out: &common::Out| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap_or_else(|| panic!("{out}"))
    };
    let plain = t
        .exec(&[], &["grep", "CapEff", "/proc/self/status"])
        .check();
    let with = t
        .exec(
            &["--cap", "CAP_SYS_ADMIN"],
            &["grep", "CapEff", "/proc/self/status"],
        )
        .check();
    assert_eq!(eff(&plain) & bit, 0, "{plain}");
    assert_ne!(eff(&with) & bit, 0, "{with}");
}

#[test]
fn exec_missing_cwd_fails() {
    let Some(t) = running("exec_missing_cwd_fails") else {
        return;
    };
    let out = t.exec(&["--cwd", "/itest-nope"], &["pwd"]);
    assert!(!out.ok(), "{out}");
}

#[test]
fn exec_inherits_config_env() {
    let Some(mut t) = common::setup("exec_inherits_config_env") else {
        return;
    };
    let env = t.config["process"]["env"].as_array_mut().unwrap();
    env.push(serde_json::json!("ITEST_CFG=from-config"));
    env.push(serde_json::json!("ITEST_OVR=config"));
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t
        .exec(
            &["--env", "ITEST_OVR=flag"],
            &["sh", "-c", "echo $ITEST_CFG $ITEST_OVR; echo $PATH"],
        )
        .check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"from-config flag"), "{out}");
    assert!(lines.get(1).is_some_and(|p| p.contains("/bin")), "{out}");
}
