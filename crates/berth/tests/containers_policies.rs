//! Restart policies and healthchecks, run by the monitor without any CLI around.

mod common;

use common::engine::{Engine, T30};
use common::host;

fn restart_count(e: &Engine, name: &str) -> u64 {
    e.inspect_f(name, "{{.RestartCount}}").parse().unwrap()
}

#[test]
fn on_failure_gives_up_after_the_maximum() {
    let Some(e) = Engine::new("on_failure") else {
        return;
    };
    e.run_d(&[
        "--name",
        "f",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let ok = host::wait_until(T30, || {
        e.status("f") == "exited" && restart_count(&e, "f") == 2
    });
    assert!(
        ok,
        "status {} after {} restarts",
        e.status("f"),
        restart_count(&e, "f")
    );
    assert_eq!(e.inspect_f("f", "{{.State.ExitCode}}"), "1");
    assert_eq!(
        e.inspect_f("f", "{{.HostConfig.RestartPolicy.Name}}"),
        "on-failure"
    );

    // A clean exit is not a failure.
    e.run_d(&[
        "--name",
        "ok",
        "--restart",
        "on-failure:2",
        "busybox",
        "true",
    ]);
    e.wait_for("ok", "{{.State.Status}}", "exited");
    assert_eq!(restart_count(&e, "ok"), 0);
}

/// Kills the container's process from outside (not `berth kill`, which Docker
/// counts as a manual stop for some policies) and waits for the policy to run it again.
fn crash_and_wait_restart(e: &Engine, name: &str, before: u64) {
    let pid: i32 = e.inspect_f(name, "{{.State.Pid}}").parse().unwrap();
    assert!(pid > 0);
    kill_pid(pid);
    let ok = host::wait_until(T30, || {
        restart_count(e, name) > before && e.status(name) == "running"
    });
    assert!(
        ok,
        "{name}: status {} restarts {}",
        e.status(name),
        restart_count(e, name)
    );
    let new_pid: i32 = e.inspect_f(name, "{{.State.Pid}}").parse().unwrap();
    assert_ne!(new_pid, pid);
}

fn kill_pid(pid: i32) {
    let st = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn always_restarts_until_stopped() {
    let Some(e) = Engine::new("always") else {
        return;
    };
    e.run_d(&[
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "300",
    ]);
    crash_and_wait_restart(&e, "a", 0);
    // Docker restarts `always` containers after `kill` too.
    let before = restart_count(&e, "a");
    e.ok(&["kill", "a"]);
    let ok = host::wait_until(T30, || {
        restart_count(&e, "a") > before && e.status("a") == "running"
    });
    assert!(
        ok,
        "kill did not restart an always container: {}",
        e.status("a")
    );

    e.ok(&["stop", "-t", "1", "a"]);
    assert_eq!(e.status("a"), "exited");
    let after = restart_count(&e, "a");
    // Nothing may bring it back after a stop.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(e.status("a"), "exited");
    assert_eq!(restart_count(&e, "a"), after);
}

#[test]
fn unless_stopped_restarts_until_stopped() {
    let Some(e) = Engine::new("unless_stopped") else {
        return;
    };
    e.run_d(&[
        "--name",
        "u",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    crash_and_wait_restart(&e, "u", 0);
    crash_and_wait_restart(&e, "u", restart_count(&e, "u"));
    e.ok(&["stop", "-t", "1", "u"]);
    assert_eq!(e.status("u"), "exited");
    // A later start works and the policy is still in force.
    e.ok(&["start", "u"]);
    assert_eq!(e.status("u"), "running");
    crash_and_wait_restart(&e, "u", restart_count(&e, "u"));
}

#[test]
fn healthcheck_goes_healthy() {
    let Some(e) = Engine::new("healthy") else {
        return;
    };
    e.run_d(&[
        "--name",
        "h",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]);
    e.wait_for("h", "{{.State.Health.Status}}", "healthy");
    let ps = e.ok(&["ps"]);
    assert!(ps.contains("(healthy)"), "{ps}");
    assert_eq!(
        e.ok(&["ps", "-q", "--filter", "health=healthy"])
            .trim()
            .len(),
        12
    );
}

#[test]
fn healthcheck_goes_unhealthy() {
    let Some(e) = Engine::new("unhealthy") else {
        return;
    };
    e.run_d(&[
        "--name",
        "h",
        "--health-cmd",
        "echo sick; false",
        "--health-retries",
        "2",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "300",
    ]);
    e.wait_for("h", "{{.State.Health.Status}}", "unhealthy");
    let streak: u64 = e
        .inspect_f("h", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    let log = e.ok(&["inspect", "h"]);
    assert!(
        log.contains("sick"),
        "the probe's output belongs in Health.Log"
    );
    assert!(e.ok(&["ps"]).contains("(unhealthy)"));
    assert_eq!(
        e.status("h"),
        "running",
        "unhealthy does not stop a container"
    );
}

#[test]
fn no_healthcheck_means_no_health() {
    let Some(e) = Engine::new("no_health") else {
        return;
    };
    e.run_d(&["--name", "n", "--no-healthcheck", "busybox", "sleep", "300"]);
    let v: serde_json::Value = serde_json::from_str(&e.ok(&["inspect", "n"])).unwrap();
    assert!(v[0]["State"]["Health"].is_null(), "{}", v[0]["State"]);
    assert_eq!(
        v[0]["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    e.fails(
        &[
            "run",
            "--no-healthcheck",
            "--health-cmd",
            "true",
            "busybox",
            "true",
        ],
        125,
    );
}

/// `--health-on-failure kill` (Podman's option): the monitor kills the container
/// once the check turns unhealthy; `restart` brings it back.
#[test]
fn health_on_failure_kills_or_restarts() {
    let Some(e) = Engine::new("health_on_failure") else {
        return;
    };
    for (name, action) in [("hk", "kill"), ("hr", "restart")] {
        e.run_d(&[
            "--name",
            name,
            "--health-cmd",
            "false",
            "--health-retries",
            "1",
            "--health-interval",
            "1s",
            "--health-on-failure",
            action,
            "busybox",
            "sleep",
            "300",
        ]);
    }
    e.wait_for("hk", "{{.State.Status}}", "exited");
    assert_eq!(e.inspect_f("hk", "{{.State.ExitCode}}"), "137");
    assert!(host::wait_until(T30, || {
        e.inspect_f("hr", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 1
    }));
    let err = e.fails(
        &["run", "--health-on-failure", "sometimes", "busybox", "true"],
        125,
    );
    assert!(err.contains("health-on-failure"), "{err}");
}
