//! Nothing outlives a container: cgroups, mounts, processes and state are
//! gone after delete of a user-namespaced container and after a `run`
//! whose process the OOM killer took.

mod common;

use common::{host, TestCtx};
use serde_json::json;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// Host pids whose cgroup membership names container `id`.
fn pids_in_cgroup_of(id: &str) -> Vec<String> {
    let needle = format!("/{}/{id}", host::CGROUP_PARENT);
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("cgroup"))
                .is_ok_and(|c| c.lines().any(|l| l.ends_with(&needle)))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[track_caller]
fn assert_no_leaks(t: &TestCtx, id: &str) {
    // Cgroup removal may trail the last process's exit by a moment.
    host::wait_until(Duration::from_secs(5), || {
        host::cgroup_dirs(id).is_empty() && pids_in_cgroup_of(id).is_empty()
    });
    assert_eq!(
        pids_in_cgroup_of(id),
        Vec::<String>::new(),
        "processes left"
    );
    assert_eq!(
        host::cgroup_dirs(id),
        Vec::<std::path::PathBuf>::new(),
        "cgroups left"
    );
    let dir = t.dir.path().display().to_string();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts: Vec<&str> = info.lines().filter(|l| l.contains(&dir)).collect();
    assert!(
        mounts.is_empty(),
        "mounts referencing the test dir: {mounts:#?}"
    );
    let state: Vec<_> = std::fs::read_dir(&t.root)
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        !state.iter().any(|n| n.to_string_lossy().contains(id)),
        "state left under --root: {state:?}"
    );
    assert!(!t.rt(&["state", id]).ok(), "state still answers for {id}");
}

#[test]
fn no_leaks_after_delete_userns_container() {
    let Some(mut t) = common::setup("no_leaks_after_delete_userns_container") else {
        return;
    };
    let st = std::process::Command::new("chown")
        .args(["-R", "-h", "100000:100000"])
        .arg(&t.rootfs)
        .status()
        .expect("chown");
    assert!(st.success());
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    t.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    t.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    t.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]
    }));
    t.sh("sleep 1000 & sleep 1000");
    let st = t.start_detached();
    assert!(
        !host::cgroup_dirs(&t.id).is_empty(),
        "no cgroup while running"
    );
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", Duration::from_secs(10));
    t.rt(&["delete", &t.id]).check();
    assert!(!host::pid_alive(st.pid), "init {} survived", st.pid);
    assert_no_leaks(&t, &t.id);
}

#[test]
fn no_leaks_after_oom_killed_run() {
    let Some(mut t) = common::setup("no_leaks_after_oom_killed_run") else {
        return;
    };
    t.config["linux"]["resources"]["memory"] = json!({"limit": 16 * MIB, "swap": 16 * MIB});
    t.set_args(&["sh", "-c", "head -c 200m /dev/zero | tail -n 1 >/dev/null"]);
    let out = t.run();
    assert_eq!(out.code, Some(137), "expected an OOM kill: {out}");
    assert_no_leaks(&t, &t.id);
}
