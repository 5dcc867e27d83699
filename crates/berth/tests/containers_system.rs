//! Many containers at once, a container whose monitor died, and images that
//! containers still use.

mod common;

use std::collections::HashSet;

use common::engine::{show, text, Engine, T30};
use common::host;

#[test]
fn fifty_parallel_runs() {
    let Some(e) = Engine::new("parallel") else {
        return;
    };
    // Separate processes racing on one store: the SQLite records, the name
    // generator and the snapshots must all cope.
    let children: Vec<_> = (0..50)
        .map(|_| e.spawn(&["run", "-d", "busybox", "sleep", "30"]))
        .collect();
    let mut ids = HashSet::new();
    let mut failures = Vec::new();
    for c in children {
        let o = c.wait_with_output().unwrap();
        if o.status.success() {
            ids.insert(text(&o.stdout).trim().to_string());
        } else {
            failures.push(show(&o));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed: {}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ids.len(), 50);

    let names = e.ok(&["ps", "--format", "{{.Names}}"]);
    let names: HashSet<&str> = names.lines().collect();
    assert_eq!(names.len(), 50, "50 running containers with unique names");

    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.iter().map(String::as_str));
    e.ok(&rm);
    assert_eq!(e.ok(&["ps", "-aq"]), "");
    for id in &ids {
        let left = e.leftovers(id);
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_dead_monitor_leaves_nothing_after_rm() {
    let Some(e) = Engine::new("dead_monitor") else {
        return;
    };
    let id = e.run_d(&["--name", "orphan", "busybox", "sleep", "300"]);
    let pid: i64 = e.inspect_f("orphan", "{{.State.Pid}}").parse().unwrap();
    let mon_file = e.runroot.join("containers").join(&id).join("monitor.pid");
    let mon: i64 = std::fs::read_to_string(&mon_file)
        .unwrap_or_else(|err| panic!("{}: {err}", mon_file.display()))
        .trim()
        .parse()
        .unwrap();
    assert_ne!(mon, pid);
    let st = std::process::Command::new("kill")
        .args(["-KILL", &mon.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(host::wait_until(T30, || !host::pid_alive(mon)));

    assert_ne!(e.status("orphan"), "running");
    assert_eq!(e.ok(&["ps", "-q"]), "", "ps must not show it running");
    assert!(e.ok(&["ps", "-aq"]).contains(&id[..12]));

    // What rm -f must clean up is really there, so its absence afterwards means something.
    let before = e.leftovers(&id);
    for what in ["mount ", "cgroup ", "run dir ", "snapshot dir "] {
        assert!(
            before.iter().any(|l| l.starts_with(what)),
            "no {what}in {before:?}"
        );
    }
    e.ok(&["rm", "-f", "orphan"]);
    let left = e.leftovers(&id);
    assert!(left.is_empty(), "{left:?}");
    assert!(
        host::wait_until(T30, || !host::pid_alive(pid)),
        "the container's process outlived rm -f"
    );
}

#[test]
fn images_in_use_are_kept() {
    let Some(e) = Engine::new("image_in_use") else {
        return;
    };
    let id = e.run_d(&["busybox", "sleep", "300"]);
    let o = e.berth(&["rmi", "busybox"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    assert!(text(&o.stderr).contains("container"), "{}", show(&o));
    e.ok(&["image", "prune", "-a", "-f"]);
    assert!(e.ok(&["images", "-q"]).lines().count() == 1);

    // A stopped container still holds its image.
    e.ok(&["stop", "-t", "1", &id]);
    let o = e.berth(&["rmi", "busybox"]);
    assert_ne!(o.status.code(), Some(0), "{}", show(&o));
    e.ok(&["rm", &id]);
    e.ok(&["rmi", "busybox"]);
    assert_eq!(e.ok(&["images", "-q"]), "");
}

#[test]
fn a_container_whose_monitor_died_starts_again() {
    let Some(e) = Engine::new("dead_monitor_start") else {
        return;
    };
    let id = e.run_d(&["--name", "again", "busybox", "sleep", "300"]);
    let old: i64 = e.inspect_f("again", "{{.State.Pid}}").parse().unwrap();
    let mon = std::fs::read_to_string(e.runroot.join("containers").join(&id).join("monitor.pid"))
        .unwrap();
    let st = std::process::Command::new("kill")
        .args(["-KILL", mon.trim()])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(host::wait_until(T30, || e.status("again") == "exited"));
    e.ok(&["start", "again"]);
    assert_eq!(e.status("again"), "running");
    let new: i64 = e.inspect_f("again", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(new, old);
    assert!(
        !host::pid_alive(old),
        "the orphan of the old run must be gone"
    );
    assert_eq!(e.ok(&["exec", "again", "echo", "ok"]), "ok\n");
}

/// What a reboot leaves: monitors and containers gone, rows still saying running.
/// `system boot` starts the `always` container and the `unless-stopped` one that was
/// running, and leaves the `unless-stopped` one the user stopped and the one with no
/// policy alone.
#[test]
fn system_boot_starts_what_the_restart_policies_ask_for() {
    let Some(e) = Engine::new("system_boot") else {
        return;
    };
    e.run_d(&[
        "--name",
        "always",
        "--restart",
        "always",
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&[
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&[
        "--name",
        "stopped",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    e.run_d(&["--name", "plain", "busybox", "sleep", "300"]);
    e.ok(&["stop", "-t", "0", "stopped"]);
    // The "reboot": kill each monitor, then its container.
    for name in ["always", "unless", "plain"] {
        let id = e.inspect_f(name, "{{.Id}}");
        let pid = e.inspect_f(name, "{{.State.Pid}}");
        let mon =
            std::fs::read_to_string(e.runroot.join("containers").join(&id).join("monitor.pid"))
                .unwrap();
        for p in [mon.trim(), pid.trim()] {
            let st = std::process::Command::new("kill")
                .args(["-KILL", p])
                .status()
                .unwrap();
            assert!(st.success());
        }
        assert!(
            host::wait_until(T30, || e.status(name) == "exited"),
            "{name}"
        );
    }
    let out = e.ok(&["system", "boot"]);
    assert!(out.contains("started always"), "{out}");
    assert!(out.contains("started unless"), "{out}");
    assert!(!out.contains("stopped"), "{out}");
    assert_eq!(e.status("always"), "running");
    assert_eq!(e.status("unless"), "running");
    assert_eq!(e.status("stopped"), "exited");
    assert_eq!(e.status("plain"), "exited");
    assert_eq!(e.ok(&["exec", "always", "echo", "up"]), "up\n");
}
