//! Lifecycle edge cases: paused deletes, duplicate and bad ids, repeated
//! starts, exec into containers that cannot take one, signals and exit
//! codes of foreground runs, pid files, `run --keep`.

mod common;

use common::host;
use common::runtime::{read_lossy, RuntimeBin};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T10: Duration = Duration::from_secs(10);

/// Starts `<runtime> --root R ARGS...` without waiting; output goes to files.
fn spawn_rt(t: &common::TestCtx, tag: &str, args: &[&str]) -> (Child, PathBuf, PathBuf) {
    let rt = RuntimeBin::get();
    let out = t.path(&format!("{tag}.stdout"));
    let err = t.path(&format!("{tag}.stderr"));
    let child = Command::new(&rt.bin)
        .args(&rt.prefix)
        .arg("--root")
        .arg(&t.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn runtime");
    (child, out, err)
}

/// Waits for `child` up to `timeout`, killing it (by its own pid) on expiry.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let done = host::wait_until(timeout, || child.try_wait().ok().flatten().is_some());
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    child.wait().ok()
}

#[test]
fn delete_force_paused_container() {
    let Some(mut t) = common::setup("delete_force_paused_container") else {
        return;
    };
    t.sh("sleep 1000 & sleep 1000");
    let st = t.start_detached();
    t.rt(&["pause", &t.id]).check();
    t.wait_status(&t.id, "paused", T10);
    let out = t.rt_with(
        &["delete", "--force", &t.id],
        common::runtime::Call {
            timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        },
    );
    assert!(out.ok() && !out.timed_out, "{out}");
    assert!(
        host::wait_until(T10, || !host::pid_alive(st.pid)),
        "init {} survived delete --force of a paused container",
        st.pid
    );
    assert!(host::wait_until(T10, || host::cgroup_dirs(&t.id).is_empty()));
    assert!(!t.rt(&["state", &t.id]).ok());
}

#[test]
fn create_duplicate_id_fails() {
    let Some(mut t) = common::setup("create_duplicate_id_fails") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let st = t.state();
    let out = t.create();
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("already exists"), "{out}");
    // The first container is untouched.
    let again = t.state();
    assert_eq!((again.pid, again.status.as_str()), (st.pid, "created"));
}

#[test]
fn invalid_container_ids_rejected() {
    let Some(mut t) = common::setup("invalid_container_ids_rejected") else {
        return;
    };
    t.set_args(&["true"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    for bad in ["../escape", "a/b", "..", ""] {
        let out = t.rt(&["create", "--bundle", &bundle, bad]);
        assert!(!out.ok(), "id {bad:?} accepted: {out}");
    }
    assert!(
        !t.dir.path().join("escape").exists(),
        "state escaped --root"
    );
    let out = t.rt(&["list", "-q"]).check();
    assert_eq!(out.stdout.trim(), "", "{out}");
}

#[test]
fn start_twice_fails() {
    let Some(mut t) = common::setup("start_twice_fails") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.start();
    assert!(!out.ok(), "second start succeeded: {out}");
    assert_eq!(t.state().status, "running");
}

#[test]
fn exec_refused_when_paused_or_stopped() {
    let Some(mut t) = common::setup("exec_refused_when_paused_or_stopped") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    t.rt(&["pause", &t.id]).check();
    let out = t.rt_with(
        &["exec", &t.id, "true"],
        common::runtime::Call {
            timeout: Some(Duration::from_secs(20)),
            ..Default::default()
        },
    );
    assert!(!out.ok() && !out.timed_out, "exec into paused: {out}");
    assert!(out.stderr.contains("paused"), "{out}");
    t.rt(&["resume", &t.id]).check();
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    let out = t.exec(&[], &["true"]);
    assert!(!out.ok(), "exec into stopped: {out}");
}

#[test]
fn foreground_run_forwards_sigterm() {
    let Some(mut t) = common::setup("foreground_run_forwards_sigterm") else {
        return;
    };
    let out_dir = t.share("/out");
    t.sh("trap 'echo got-term > /out/sig; exit 3' TERM; touch /out/ready; while :; do sleep 0.1; done");
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let (mut child, out, err) = spawn_rt(&t, "fg", &["run", "--bundle", &bundle, &t.id]);
    assert!(
        host::wait_until(T10, || out_dir.join("ready").exists()),
        "container never started: {}",
        read_lossy(&err)
    );
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = wait_child(&mut child, T10);
    let (o, e) = (read_lossy(&out), read_lossy(&err));
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{o}\n{e}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("sig"))
            .unwrap_or_default()
            .trim(),
        "got-term"
    );
}

#[test]
fn foreground_run_reports_signal_death() {
    let Some(mut t) = common::setup("foreground_run_reports_signal_death") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let (mut child, out, err) = spawn_rt(&t, "fg", &["run", "--bundle", &bundle, &t.id]);
    t.wait_status(&t.id, "running", T10);
    t.rt(&["kill", &t.id, "KILL"]).check();
    let status = wait_child(&mut child, T10);
    let (o, e) = (read_lossy(&out), read_lossy(&err));
    assert_eq!(status.and_then(|s| s.code()), Some(137), "{o}\n{e}");
}

#[test]
fn exec_reports_signal_death() {
    let Some(mut t) = common::setup("exec_reports_signal_death") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.exec(&[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.code, Some(137), "{out}");
}

#[test]
fn create_pid_file_matches_state() {
    let Some(mut t) = common::setup("create_pid_file_matches_state") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let pid_file = t.path("init.pid");
    let pf = pid_file.display().to_string();
    t.rt(&["create", "--bundle", &bundle, "--pid-file", &pf, &t.id])
        .check();
    let st = t.state();
    let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
    assert_eq!(text.trim(), st.pid.to_string(), "pid file {text:?}");
}

#[test]
fn run_keep_leaves_stopped_container() {
    let Some(mut t) = common::setup("run_keep_leaves_stopped_container") else {
        return;
    };
    t.sh("exit 4");
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let out = t.rt(&["run", "--keep", "--bundle", &bundle, &t.id]);
    assert_eq!(out.code, Some(4), "{out}");
    assert_eq!(t.state().status, "stopped");
    t.rt(&["delete", &t.id]).check();
    assert!(host::cgroup_dirs(&t.id).is_empty());
}

/// Without its own pid namespace the init's death does not take its
/// children along: delete must still kill every process of the container
/// (runc signals the whole cgroup).
#[test]
fn delete_without_pid_namespace_kills_children() {
    let Some(mut t) = common::setup("delete_without_pid_namespace_kills_children") else {
        return;
    };
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let out_dir = t.share("/out");
    t.sh("sleep 1000 & echo $! > /out/child; sleep 1000");
    let st = t.start_detached();
    assert!(host::wait_until(T10, || out_dir.join("child").exists()));
    let child: i64 = std::fs::read_to_string(out_dir.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        host::pid_alive(child),
        "background sleep {child} not running"
    );
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    t.rt(&["delete", &t.id]).check();
    let gone = host::wait_until(T10, || !host::pid_alive(child) && !host::pid_alive(st.pid));
    if !gone && host::pid_alive(child) {
        // Do not leak it past the test.
        let _ = Command::new("kill")
            .args(["-9", &child.to_string()])
            .status();
        panic!("child {child} survived delete of a container without a pid namespace");
    }
    assert!(gone);
}

/// A foreground `run` without a pid namespace cleans up the children its
/// init left behind when it exits.
#[test]
fn run_without_pid_namespace_reaps_leftovers() {
    let Some(mut t) = common::setup("run_without_pid_namespace_reaps_leftovers") else {
        return;
    };
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let out_dir = t.share("/out");
    t.sh("sleep 1000 >/dev/null 2>&1 & echo $! > /out/child; exit 0");
    let out = t.run();
    assert_eq!(out.code, Some(0), "{out}");
    let child: i64 = std::fs::read_to_string(out_dir.join("child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = host::wait_until(T10, || !host::pid_alive(child));
    if !gone {
        let _ = Command::new("kill")
            .args(["-9", &child.to_string()])
            .status();
    }
    assert!(gone, "child {child} outlived `run`");
    assert!(host::wait_until(T10, || host::cgroup_dirs(&t.id).is_empty()));
}

#[test]
fn pause_resume_wrong_states_fail() {
    let Some(mut t) = common::setup("pause_resume_wrong_states_fail") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.rt(&["resume", &t.id]);
    assert!(!out.ok(), "resume of a running container: {out}");
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    let out = t.rt(&["pause", &t.id]);
    assert!(!out.ok(), "pause of a stopped container: {out}");
    assert_eq!(t.state().status, "stopped");
}
