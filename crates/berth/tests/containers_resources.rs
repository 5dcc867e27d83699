//! Resource limits and security flags, observed from inside the container and in
//! its cgroup files.

mod common;

use std::path::PathBuf;

use common::engine::{show, text, Engine};

/// A file of the container's cgroup, v1 or v2 (berth's cgroups are `/berth/<id>`).
fn cgroup_file(id: &str, v1_controller: &str, file: &str) -> PathBuf {
    let base = if common::host::cgroup_v2_unified() {
        PathBuf::from("/sys/fs/cgroup")
    } else {
        PathBuf::from("/sys/fs/cgroup").join(v1_controller)
    };
    base.join("berth").join(id).join(file)
}

fn read(p: &PathBuf) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|err| panic!("{}: {err}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_limit_ooms() {
    let Some(e) = Engine::new("oom") else { return };
    // busybox tail keeps the whole current line; /dev/zero has no newline, so it
    // grows its buffer until the cgroup kills it.
    let o = e.berth(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", show(&o));
    assert_eq!(e.inspect_f("hog", "{{.State.OOMKilled}}"), "true");
    assert_eq!(e.inspect_f("hog", "{{.State.ExitCode}}"), "137");

    let o = e.berth(&[
        "run", "--name", "calm", "--memory", "16m", "busybox", "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(e.inspect_f("calm", "{{.State.OOMKilled}}"), "false");
}

#[test]
fn cgroup_limits_are_applied() {
    let Some(e) = Engine::new("cgroup_limits") else {
        return;
    };
    let id = e.run_d(&[
        "--pids-limit",
        "33",
        "--cpus",
        "0.5",
        "--memory",
        "48m",
        "busybox",
        "sleep",
        "300",
    ]);
    let v2 = common::host::cgroup_v2_unified();
    if v2 {
        assert_eq!(read(&cgroup_file(&id, "pids", "pids.max")), "33");
        assert_eq!(read(&cgroup_file(&id, "cpu", "cpu.max")), "50000 100000");
        assert_eq!(read(&cgroup_file(&id, "memory", "memory.max")), "50331648");
    } else {
        assert_eq!(read(&cgroup_file(&id, "pids", "pids.max")), "33");
        assert_eq!(read(&cgroup_file(&id, "cpu", "cpu.cfs_quota_us")), "50000");
        assert_eq!(
            read(&cgroup_file(&id, "cpu", "cpu.cfs_period_us")),
            "100000"
        );
        assert_eq!(
            read(&cgroup_file(&id, "memory", "memory.limit_in_bytes")),
            "50331648"
        );
    }
    assert_eq!(e.inspect_f(&id, "{{.HostConfig.PidsLimit}}"), "33");
    assert_eq!(e.inspect_f(&id, "{{.HostConfig.NanoCpus}}"), "500000000");
}

#[test]
fn process_limits_and_identity() {
    let Some(e) = Engine::new("process_limits") else {
        return;
    };
    let out = e.ok(&[
        "run",
        "--rm",
        "--ulimit",
        "nofile=100:200",
        "--oom-score-adj",
        "500",
        "--group-add",
        "1234",
        "busybox",
        "sh",
        "-c",
        "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; id -G",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["100", "200", "500"], "{out}");
    assert!(lines[3].split(' ').any(|g| g == "1234"), "{out}");
}

#[test]
fn capabilities_and_privileges() {
    let Some(e) = Engine::new("caps") else { return };
    e.ok(&["run", "--rm", "busybox", "chown", "1:1", "/etc/passwd"]);
    let o = e.berth(&[
        "run",
        "--rm",
        "--cap-drop",
        "ALL",
        "busybox",
        "chown",
        "1:1",
        "/etc/passwd",
    ]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("Operation not permitted"),
        "{}",
        show(&o)
    );

    let o = e.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt",
    ]);
    assert_ne!(
        o.status.code(),
        Some(0),
        "unprivileged mount worked: {}",
        show(&o)
    );
    assert!(text(&o.stderr).contains("denied"), "{}", show(&o));
    e.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /mnt && mount -t tmpfs t /mnt && grep ' /mnt ' /proc/mounts",
    ]);

    let out = e.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.trim().ends_with('1'), "{out}");
    let out = e.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "NoNewPrivs",
        "/proc/self/status",
    ]);
    assert!(out.trim().ends_with('0'), "{out}");
}

#[test]
fn default_seccomp_blocks_user_namespaces() {
    let Some(e) = Engine::new("seccomp") else {
        return;
    };
    let o = e.berth(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    let o = e.berth(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn devices_sysctls_and_shm() {
    let Some(e) = Engine::new("devices") else {
        return;
    };
    let out = e.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/mynull",
        "busybox",
        "sh",
        "-c",
        "echo x > /dev/mynull && ls -l /dev/mynull",
    ]);
    assert!(out.starts_with('c'), "a character device: {out}");
    assert!(
        out.contains("1,") && out.contains(" 3 "),
        "1:3 is /dev/null: {out}"
    );

    let out = e.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.shmmax=12345678",
        "busybox",
        "cat",
        "/proc/sys/kernel/shmmax",
    ]);
    assert_eq!(out.trim(), "12345678");

    let out = e.ok(&[
        "run",
        "--rm",
        "--shm-size",
        "1m",
        "busybox",
        "df",
        "-k",
        "/dev/shm",
    ]);
    let row = out.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(row.split_whitespace().nth(1), Some("1024"), "{out}");
}
