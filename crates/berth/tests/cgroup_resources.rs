//! cgroup resources beyond memory and pids: cpu, cpuset, update by flags,
//! and the container's view of its own limits.

mod common;

use common::host;
use serde_json::json;

const MIB: u64 = 1024 * 1024;

fn read_trim(p: &std::path::Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

#[test]
fn cpu_and_cpuset_limits() {
    let Some(mut t) = common::setup("cpu_and_cpuset_limits") else {
        return;
    };
    t.config["linux"]["resources"]["cpu"] = json!({
        "shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"
    });
    t.sh("grep Cpus_allowed_list /proc/self/status");
    // `run` deletes the cgroup on exit: this checks the view from inside.
    let out = t.run().check();
    assert!(
        out.stdout.trim().ends_with("\t0") || out.stdout.trim().ends_with(" 0"),
        "{out}"
    );

    t.set_args(&["sleep", "1000"]);
    let id = t.new_id();
    t.create_id(&id).check();
    if host::cgroup_v2_unified() {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(host::CGROUP_PARENT)
            .join(&id);
        assert_eq!(read_trim(&dir.join("cpu.max")), "50000 100000");
        assert_eq!(read_trim(&dir.join("cpuset.cpus")), "0");
    } else {
        let f = |c: &str, file: &str| read_trim(&host::cgroup_file(&id, c, file, file));
        assert_eq!(f("cpu", "cpu.shares"), "512");
        assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(f("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(f("cpuset", "cpuset.cpus"), "0");
        assert_eq!(f("cpuset", "cpuset.mems"), "0");
    }
}

#[test]
fn update_with_flags() {
    let Some(mut t) = common::setup("update_with_flags") else {
        return;
    };
    t.config["linux"]["resources"]["pids"] = json!({"limit": 50});
    t.config["linux"]["resources"]["memory"] = json!({"limit": 64 * MIB});
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    t.rt(&[
        "update",
        "--pids-limit",
        "25",
        "--memory",
        &(48 * MIB).to_string(),
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &t.id,
    ])
    .check();
    let pids_max = host::cgroup_file(&t.id, "pids", "pids.max", "pids.max");
    let mem_max = host::cgroup_file(&t.id, "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(read_trim(&pids_max), "25");
    assert_eq!(read_trim(&mem_max), (48 * MIB).to_string());
    if !host::cgroup_v2_unified() {
        let q = host::cgroup_file(&t.id, "cpu", "cpu.cfs_quota_us", "cpu.max");
        assert_eq!(read_trim(&q), "20000");
    }
    // Untouched settings survive a partial update.
    t.rt(&["update", "--pids-limit", "30", &t.id]).check();
    assert_eq!(read_trim(&pids_max), "30");
    assert_eq!(read_trim(&mem_max), (48 * MIB).to_string());
}

#[test]
fn update_stopped_container_fails() {
    let Some(mut t) = common::setup("update_stopped_container_fails") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", std::time::Duration::from_secs(10));
    let out = t.rt(&["update", "--pids-limit", "30", &t.id]);
    assert!(!out.ok(), "{out}");
}

#[test]
fn paused_container_is_frozen() {
    let Some(mut t) = common::setup("paused_container_is_frozen") else {
        return;
    };
    let out_dir = t.share("/out");
    t.sh("i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done");
    t.start_detached();
    let n = || {
        std::fs::read_to_string(out_dir.join("n"))
            .unwrap_or_default()
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
    };
    assert!(host::wait_until(std::time::Duration::from_secs(10), || n() > 2));
    t.rt(&["pause", &t.id]).check();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let a = n();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(n(), a, "counter moved while paused");
    t.rt(&["resume", &t.id]).check();
    assert!(
        host::wait_until(std::time::Duration::from_secs(5), || n() > a),
        "counter stuck after resume"
    );
}
