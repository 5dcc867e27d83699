//! `exec` into a running container.

mod common;

use common::host;
use serde_json::json;
use std::time::Duration;

fn running(name: &str) -> Option<common::TestCtx> {
    let mut t = common::setup(name)?;
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    Some(t)
}

#[test]
fn exec_sees_container_init() {
    let Some(t) = running("exec_sees_container_init") else {
        return;
    };
    let out = t.exec(&[], &["cat", "/proc/1/cmdline"]).check();
    assert_eq!(out.stdout, "sleep\u{0}1000\u{0}", "{out}");
}

#[test]
fn exec_env_cwd_user() {
    let Some(t) = running("exec_env_cwd_user") else {
        return;
    };
    let out = t
        .exec(&["-e", "ITEST_X=exec-env"], &["sh", "-c", "echo $ITEST_X"])
        .check();
    assert_eq!(out.stdout.trim(), "exec-env", "{out}");

    let out = t.exec(&["--cwd", "/proc"], &["pwd"]).check();
    assert_eq!(out.stdout.trim(), "/proc", "{out}");

    let out = t.exec(&["-u", "65534"], &["id", "-u"]).check();
    assert_eq!(out.stdout.trim(), "65534", "{out}");
}

#[test]
fn exec_exit_code_propagates() {
    let Some(t) = running("exec_exit_code_propagates") else {
        return;
    };
    let out = t.exec(&[], &["sh", "-c", "exit 7"]);
    assert_eq!(out.code, Some(7), "{out}");
}

#[test]
fn exec_process_json() {
    let Some(t) = running("exec_process_json") else {
        return;
    };
    let process = json!({
        "terminal": false,
        "user": {"uid": 65534, "gid": 65534},
        "args": ["sh", "-c", "echo \"$ITEST_P $(id -u) $(pwd)\""],
        "env": ["PATH=/bin", "ITEST_P=from-json"],
        "cwd": "/dev",
    });
    let path = t.path("process.json");
    std::fs::write(&path, serde_json::to_vec(&process).unwrap()).unwrap();
    let out = t
        .rt(&["exec", "-p", &path.display().to_string(), &t.id])
        .check();
    assert_eq!(out.stdout.trim(), "from-json 65534 /dev", "{out}");
}

#[test]
fn exec_detached_pid_file() {
    let Some(t) = running("exec_detached_pid_file") else {
        return;
    };
    let pid_file = t.path("exec.pid");
    let pf = pid_file.display().to_string();
    t.exec(&["-d", "--pid-file", &pf], &["sleep", "999"])
        .check();
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .expect("pid file written")
        .trim()
        .parse()
        .expect("pid file holds a number");
    assert!(host::pid_alive(pid), "exec'd pid {pid} not running");
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(cmdline, b"sleep\x00999\x00");
    let out = t.rt(&["ps", "--format", "json", &t.id]).check();
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(pids.contains(&pid), "{pid} not in ps: {out}");
    // The exec'd process dies with the container (the guard kills it too,
    // but make the point here).
    t.rt(&["kill", "--all", &t.id, "KILL"]).check();
    assert!(host::wait_until(Duration::from_secs(10), || {
        !host::pid_alive(pid)
    }));
}
