//! stop, kill, restart, pause, rename, wait, top, inspect and prune on real
//! detached containers.

mod common;

use common::engine::{show, text, Engine, T30};
use common::host;

/// A shell that reports it is ready, so a signal is never sent before its trap exists.
const READY: &str = "touch /tmp/ready";

fn wait_ready(e: &Engine, name: &str) {
    let ok = host::wait_until(T30, || {
        e.berth(&["exec", name, "test", "-e", "/tmp/ready"])
            .status
            .success()
    });
    assert!(ok, "{name} never became ready");
}

#[test]
fn stop_escalates_to_kill_and_respects_traps() {
    let Some(e) = Engine::new("stop") else { return };
    e.run_d(&[
        "--name",
        "deaf",
        "busybox",
        "sh",
        "-c",
        &format!("trap '' TERM; {READY}; while true; do sleep 0.1; done"),
    ]);
    wait_ready(&e, "deaf");
    assert_eq!(e.ok(&["stop", "-t", "1", "deaf"]).trim(), "deaf");
    assert_eq!(e.status("deaf"), "exited");
    assert_eq!(e.inspect_f("deaf", "{{.State.ExitCode}}"), "137");

    e.run_d(&[
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        &format!("trap 'exit 0' TERM; {READY}; while true; do sleep 0.1; done"),
    ]);
    wait_ready(&e, "polite");
    e.ok(&["stop", "-t", "20", "polite"]);
    assert_eq!(e.status("polite"), "exited");
    let code = e.inspect_f("polite", "{{.State.ExitCode}}");
    assert!(code == "0" || code == "143", "exit code {code}");
}

#[test]
fn kill_delivers_the_signal() {
    let Some(e) = Engine::new("kill") else { return };
    e.run_d(&[
        "--name",
        "usr",
        "busybox",
        "sh",
        "-c",
        &format!("trap 'echo got-usr1' USR1; {READY}; while true; do sleep 0.1; done"),
    ]);
    wait_ready(&e, "usr");
    e.ok(&["kill", "-s", "USR1", "usr"]);
    let ok = host::wait_until(T30, || {
        text(&e.berth(&["logs", "usr"]).stdout).contains("got-usr1")
    });
    assert!(ok, "the trap never ran");
    assert_eq!(e.status("usr"), "running", "USR1 is trapped, not fatal");

    e.ok(&["kill", "usr"]);
    e.wait_for("usr", "{{.State.Status}}", "exited");
    assert_eq!(e.inspect_f("usr", "{{.State.ExitCode}}"), "137");
    // Killing a stopped container is an error, as in Docker.
    e.fails(&["kill", "usr"], 1);
}

#[test]
fn restart_pause_rename_wait() {
    let Some(e) = Engine::new("restart") else {
        return;
    };
    e.run_d(&["--name", "one", "busybox", "sleep", "300"]);
    let pid1 = e.inspect_f("one", "{{.State.Pid}}");
    e.ok(&["restart", "-t", "1", "one"]);
    assert_eq!(e.status("one"), "running");
    let pid2 = e.inspect_f("one", "{{.State.Pid}}");
    assert_ne!(pid1, pid2, "restart must run a new process");
    assert!(host::pid_alive(pid2.parse().unwrap()));
    assert!(!host::pid_alive(pid1.parse().unwrap()));

    e.ok(&["pause", "one"]);
    assert_eq!(e.status("one"), "paused");
    assert_eq!(e.inspect_f("one", "{{.State.Paused}}"), "true");
    let out = e.ok(&["ps"]);
    assert!(out.contains("(Paused)"), "{out}");
    e.fails(&["exec", "one", "true"], 125);
    e.ok(&["unpause", "one"]);
    assert_eq!(e.status("one"), "running");

    e.ok(&["rename", "one", "two"]);
    assert_eq!(e.inspect_f("two", "{{.Name}}"), "/two");
    e.fails(&["inspect", "one"], 1);

    let mut waiter = e.spawn(&["wait", "two"]);
    e.ok(&["exec", "two", "kill", "1"]);
    // sleep as pid 1 has no handler for TERM, so exec's kill needs KILL:
    e.ok(&["kill", "two"]);
    let ended = host::wait_until(T30, || matches!(waiter.try_wait(), Ok(Some(_))));
    if !ended {
        let _ = waiter.kill();
    }
    assert!(ended, "wait did not return");
    let o = waiter.wait_with_output().unwrap();
    assert_eq!(text(&o.stdout), "137\n", "{}", show(&o));

    let o = e.berth(&["run", "--name", "three", "busybox", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(e.ok(&["wait", "three"]), "5\n");
}

#[test]
fn top_lists_the_processes() {
    let Some(e) = Engine::new("top") else { return };
    e.run_d(&["--name", "t", "busybox", "sleep", "4242"]);
    let out = e.ok(&["top", "t"]);
    assert!(out.lines().next().unwrap().contains("PID"), "{out}");
    assert!(out.contains("sleep 4242"), "{out}");
    assert_eq!(
        out.lines().count(),
        2,
        "only the container's process: {out}"
    );
}

#[test]
fn inspect_fields() {
    let Some(e) = Engine::new("inspect") else {
        return;
    };
    let id = e.run_d(&[
        "--name", "insp", "-e", "FOO=bar", "--memory", "64m", "busybox", "sleep", "300",
    ]);
    let out = e.ok(&["inspect", "insp"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v[0];
    assert_eq!(c["Id"], id.as_str());
    assert_eq!(c["Name"], "/insp");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert_eq!(c["State"]["ExitCode"], 0);
    assert_eq!(c["HostConfig"]["Memory"], 64 * 1024 * 1024);
    let env: Vec<&str> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"FOO=bar"), "{env:?}");
    let pid: i64 = e.inspect_f("insp", "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0 && host::pid_alive(pid));

    e.ok(&["stop", "-t", "1", "insp"]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "insp"])).unwrap();
    assert_eq!(v[0]["State"]["Status"], "exited");
    assert_eq!(v[0]["State"]["Running"], false);
    assert_eq!(v[0]["State"]["ExitCode"], 137);
    assert_eq!(e.inspect_f("insp", "{{.State.Pid}}"), "0");
    e.fails(&["inspect", "nope"], 1);
}

#[test]
fn prune_removes_only_stopped_containers() {
    let Some(e) = Engine::new("prune") else {
        return;
    };
    let live = e.run_d(&["busybox", "sleep", "300"]);
    let dead = e.run_d(&["busybox", "true"]);
    e.ok(&["wait", &dead]);
    let out = e.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&dead), "{out}");
    assert_eq!(e.container_ids(), vec![live]);
    assert!(e.leftovers(&dead).is_empty(), "{:?}", e.leftovers(&dead));
}
