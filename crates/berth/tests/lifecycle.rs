//! create/start/state/kill/pause/resume/delete semantics.

mod common;

use common::host;
use serde_json::json;
use std::time::Duration;

const T10: Duration = Duration::from_secs(10);

#[test]
fn two_phase_create_start() {
    let Some(mut t) = common::setup("two_phase_create_start") else {
        return;
    };
    let out_dir = t.share("/out");
    t.sh("echo ran > /out/marker");
    t.create().check();

    let st = t.state();
    assert_eq!(st.status, "created");
    assert_eq!(st.id, t.id);
    assert!(
        st.pid > 0,
        "created container has no init pid: {:?}",
        st.raw
    );
    assert!(host::pid_alive(st.pid));
    assert!(!st.oci_version.is_empty());
    assert_eq!(
        std::fs::canonicalize(&st.bundle).unwrap(),
        std::fs::canonicalize(&t.bundle).unwrap()
    );
    // The user process must not run before `start`.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!out_dir.join("marker").exists(), "process ran before start");

    t.start().check();
    assert!(
        host::wait_until(T10, || out_dir.join("marker").exists()),
        "marker never appeared after start"
    );
    t.wait_status(&t.id, "stopped", T10);
}

#[test]
fn delete_removes_everything() {
    let Some(mut t) = common::setup("delete_removes_everything") else {
        return;
    };
    t.config["linux"]["resources"]["pids"] = json!({"limit": 100});
    t.config["linux"]["resources"]["memory"] = json!({"limit": 64u64 << 20});
    t.set_args(&["sleep", "1000"]);
    let st = t.start_detached();
    assert!(
        !host::cgroup_dirs(&t.id).is_empty(),
        "no cgroup while running"
    );
    let root_entries = |t: &common::TestCtx| {
        std::fs::read_dir(&t.root)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(
        !root_entries(&t).is_empty(),
        "no state under --root while running"
    );

    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    t.rt(&["delete", &t.id]).check();

    assert!(
        !host::pid_alive(st.pid),
        "init pid {} survived delete",
        st.pid
    );
    assert_eq!(host::mounts_under(&t.bundle), Vec::<String>::new());
    assert_eq!(host::cgroup_dirs(&t.id), Vec::<std::path::PathBuf>::new());
    for ctl in ["memory", "pids"] {
        let p = std::path::Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(host::CGROUP_PARENT)
            .join(&t.id);
        assert!(!p.exists(), "{} left behind", p.display());
    }
    let left: Vec<_> = root_entries(&t)
        .into_iter()
        .filter(|n| n.to_string_lossy().contains(&t.id))
        .collect();
    assert!(left.is_empty(), "state left under --root: {left:?}");
    let out = t.rt(&["state", &t.id]);
    assert!(!out.ok(), "state still answers after delete: {out}");
}

#[test]
fn delete_running_needs_force() {
    let Some(mut t) = common::setup("delete_running_needs_force") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    let st = t.start_detached();
    let out = t.rt(&["delete", &t.id]);
    assert!(!out.ok(), "deleting a running container succeeded: {out}");
    assert_eq!(t.state().status, "running");
    t.rt(&["delete", "--force", &t.id]).check();
    assert!(host::wait_until(T10, || !host::pid_alive(st.pid)));
    assert!(!t.rt(&["state", &t.id]).ok());
}

#[test]
fn pause_and_resume() {
    let Some(mut t) = common::setup("pause_and_resume") else {
        return;
    };
    let out_dir = t.share("/out");
    t.sh("i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done");
    t.start_detached();
    let counter = || {
        std::fs::read_to_string(out_dir.join("n"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(host::wait_until(T10, || counter() > 2), "counter never ran");

    t.rt(&["pause", &t.id]).check();
    assert_eq!(t.state().status, "paused");
    // A write in flight when the freezer hit may still land; measure after.
    std::thread::sleep(Duration::from_millis(200));
    let frozen = counter();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(counter(), frozen, "counter advanced while paused");

    t.rt(&["resume", &t.id]).check();
    assert_eq!(t.state().status, "running");
    assert!(
        host::wait_until(T10, || counter() > frozen + 2),
        "counter stuck after resume"
    );
}

/// Host pids of the container's processes, via `ps --format json`.
fn container_pids(t: &common::TestCtx) -> Vec<i64> {
    let out = t.rt(&["ps", "--format", "json", &t.id]).check();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("ps json ({e}): {out}"))
}

#[test]
fn kill_all_reaches_every_process() {
    let Some(mut t) = common::setup("kill_all_reaches_every_process") else {
        return;
    };
    // Without a pid namespace, killing init would not take the others down
    // with it, so only a real --all gets every process.
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    t.sh("sleep 1000 & sleep 1000 & sleep 1000 & wait");
    t.start_detached();
    let mut pids = Vec::new();
    assert!(
        host::wait_until(T10, || {
            pids = container_pids(&t);
            pids.len() >= 4
        }),
        "expected sh + 3 sleeps, got {pids:?}"
    );
    t.rt(&["kill", "--all", &t.id, "KILL"]).check();
    for pid in &pids {
        assert!(
            host::wait_until(T10, || !host::pid_alive(*pid)),
            "pid {pid} survived kill --all"
        );
    }
    t.wait_status(&t.id, "stopped", T10);
}

#[test]
fn kill_signal_forms() {
    let Some(mut t) = common::setup("kill_signal_forms") else {
        return;
    };
    let out_dir = t.share("/out");
    for form in ["TERM", "15", "SIGTERM"] {
        let id = t.new_id();
        // pid 1 ignores signals it has no handler for, so the trap is what
        // proves delivery.
        t.sh(&format!(
            "trap 'echo term > /out/{form}; exit 0' TERM; echo up > /out/{form}.up; \
             while true; do sleep 0.05; done"
        ));
        t.create_id(&id).check();
        t.rt(&["start", &id]).check();
        assert!(host::wait_until(T10, || out_dir
            .join(format!("{form}.up"))
            .exists()));
        t.rt(&["kill", &id, form]).check();
        t.wait_status(&id, "stopped", T10);
        assert_eq!(
            std::fs::read_to_string(out_dir.join(form))
                .unwrap_or_default()
                .trim(),
            "term",
            "signal form {form}"
        );
    }
}
