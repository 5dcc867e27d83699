//! cgroup limits that bite (OOM kill, pids limit), live updates, and stats.

mod common;

use common::host;
use serde_json::{json, Value};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

#[test]
fn memory_limit_oom_kills() {
    let Some(mut t) = common::setup("memory_limit_oom_kills") else {
        return;
    };
    // swap == limit: no swap allowance, so the cgroup must OOM rather than
    // page out (v1 memsw semantics; v2 runtimes translate to swap.max=0).
    t.config["linux"]["resources"]["memory"] = json!({"limit": 16 * MIB, "swap": 16 * MIB});
    // /dev/zero has no newline, so tail must hold the whole stream in memory
    // to find the "last lines".
    t.set_args(&["sh", "-c", "head -c 200m /dev/zero | tail -n 1 >/dev/null"]);
    let out = t.run();
    assert_eq!(
        out.code,
        Some(137),
        "expected SIGKILL by the OOM killer: {out}"
    );

    // `run` deletes the container on exit, so the stopped state is checked
    // on a created-and-started twin; the shell records tail's fate.
    let out_dir = t.share("/out");
    t.sh("head -c 200m /dev/zero | tail -n 1 >/dev/null; echo $? > /out/rc");
    let twin = t.new_id();
    t.create_id(&twin).check();
    t.rt(&["start", &twin]).check();
    let st = t.wait_status(&twin, "stopped", Duration::from_secs(30));
    assert_eq!(st.status, "stopped");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("rc"))
            .unwrap_or_default()
            .trim(),
        "137"
    );
}

#[test]
fn pids_limit_stops_fork_bomb() {
    let Some(mut t) = common::setup("pids_limit_stops_fork_bomb") else {
        return;
    };
    let out_dir = t.share("/out");
    t.config["linux"]["resources"]["pids"] = json!({"limit": 10});
    // Progress goes to a file: once forks fail the shell may die before its
    // stdout is flushed anywhere useful.
    t.sh("i=0; while [ $i -lt 30 ]; do sleep 100 & i=$((i+1)); echo $i > /out/started; done; echo done > /out/done");
    let out = t.run();
    let started: u32 = std::fs::read_to_string(out_dir.join("started"))
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(started >= 1, "no sleep started at all: {out}");
    assert!(
        started < 10,
        "{started} sleeps started under pids.limit 10: {out}"
    );
    assert!(out.stderr.contains("can't fork"), "{out}");
    assert!(!out_dir.join("done").exists(), "loop completed: {out}");
}

fn read_trim(p: &std::path::Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn update_resources_from_stdin() {
    let Some(mut t) = common::setup("update_resources_from_stdin") else {
        return;
    };
    t.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    t.config["linux"]["resources"]["memory"] = json!({"limit": 64 * MIB});
    t.set_args(&["sleep", "1000"]);
    t.start_detached();

    let pids_max = host::cgroup_file(&t.id, "pids", "pids.max", "pids.max");
    let mem_max = host::cgroup_file(&t.id, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(read_trim(&pids_max), "50");
    assert_eq!(read_trim(&mem_max), (64 * MIB).to_string());

    let update = json!({"pids": {"limit": 20}, "memory": {"limit": 32 * MIB}});
    let body = serde_json::to_vec(&update).unwrap();
    t.rt_with(
        &["update", "--resources", "-", &t.id],
        common::runtime::Call {
            stdin: Some(&body),
            ..Default::default()
        },
    )
    .check();
    assert_eq!(read_trim(&pids_max), "20");
    assert_eq!(read_trim(&mem_max), (32 * MIB).to_string());
}

#[test]
fn events_stats_one_shot() {
    let Some(mut t) = common::setup("events_stats_one_shot") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.rt(&["events", "--stats", &t.id]).check();
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats is not one JSON object ({e}): {out}"));
    assert_eq!(v["type"], "stats", "{out}");
    assert_eq!(v["id"], t.id.as_str(), "{out}");
    let pids = v["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!(pids >= 1, "pids.current: {out}");
    assert!(v["data"]["memory"].is_object(), "{out}");
}
