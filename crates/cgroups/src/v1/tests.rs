use std::path::{Path, PathBuf};

use super::*;
use crate::test_support::{get, put, resources};

const HIERARCHIES: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
];

/// A fake host: one directory per hierarchy, cgroup "/berth/ctr" created
/// with empty control files (the kernel would create them on mkdir).
struct Fake {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    m: V1Manager,
}

impl Fake {
    fn new(hierarchies: &[&str]) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for h in hierarchies {
            std::fs::create_dir_all(root.join(h)).unwrap();
        }
        put(&root.join("cpuset"), "cpuset.cpus", "0-3\n");
        put(&root.join("cpuset"), "cpuset.mems", "0\n");
        let m = V1Manager::with_hierarchies(
            hierarchies
                .iter()
                .map(|h| (h.to_string(), root.join(h)))
                .collect(),
            Path::new("/berth/ctr"),
        );
        Fake { _tmp: tmp, root, m }
    }

    fn dir(&self, h: &str) -> PathBuf {
        self.root.join(h).join("berth/ctr")
    }

    /// Creates the cgroup and empty control files in it.
    fn with_files(self, files: &[(&str, &str)]) -> Self {
        self.m.create().unwrap();
        for (h, f) in files {
            put(&self.dir(h), f, "");
        }
        self
    }
}

#[test]
fn create_makes_every_hierarchy_and_copies_cpuset() {
    let f = Fake::new(HIERARCHIES);
    f.m.create().unwrap();
    for h in HIERARCHIES {
        assert!(f.dir(h).is_dir(), "{h}");
    }
    for d in [f.root.join("cpuset/berth"), f.dir("cpuset")] {
        assert_eq!(get(&d, "cpuset.cpus"), "0-3");
        assert_eq!(get(&d, "cpuset.mems"), "0");
    }
    assert!(!f.dir("memory").join("cpuset.cpus").exists());
    assert!(f.m.exists());
    let mounts = f.m.v1_mounts();
    assert_eq!(mounts[3], ("memory".to_string(), f.dir("memory")));
    assert_eq!(f.m.v2_path(), None);
    assert_eq!(f.m.version(), Version::V1);
}

#[test]
fn cpuset_already_set_is_kept() {
    let f = Fake::new(&["cpuset"]);
    put(&f.root.join("cpuset/berth"), "cpuset.cpus", "1");
    put(&f.root.join("cpuset/berth"), "cpuset.mems", "0");
    f.m.create().unwrap();
    assert_eq!(get(&f.root.join("cpuset/berth"), "cpuset.cpus"), "1");
    assert_eq!(get(&f.dir("cpuset"), "cpuset.cpus"), "1");
}

#[test]
fn add_task_writes_every_hierarchy() {
    let f = Fake::new(&["memory", "pids", "systemd"]).with_files(&[
        ("memory", "cgroup.procs"),
        ("pids", "cgroup.procs"),
        ("systemd", "cgroup.procs"),
    ]);
    f.m.add_task(4242).unwrap();
    for h in ["memory", "pids", "systemd"] {
        assert_eq!(get(&f.dir(h), "cgroup.procs"), "4242");
    }
}

#[test]
fn memory_limits() {
    let f = Fake::new(&["memory"]).with_files(&[
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("memory", "memory.oom_control"),
        ("memory", "memory.kmem.tcp.limit_in_bytes"),
    ]);
    put(
        &f.dir("memory"),
        "memory.memsw.limit_in_bytes",
        "9223372036854771712",
    );
    f.m.apply(&resources(
        r#"{"memory":{"limit":104857600,"reservation":52428800,"swap":209715200,
            "swappiness":10,"disableOOMKiller":true,"kernelTCP":1048576}}"#,
    ))
    .unwrap();
    let d = f.dir("memory");
    assert_eq!(get(&d, "memory.limit_in_bytes"), "104857600");
    // Shrinking: limit was written first, then memsw appended after the old value.
    assert_eq!(
        get(&d, "memory.memsw.limit_in_bytes"),
        "9223372036854771712209715200"
    );
    assert_eq!(get(&d, "memory.soft_limit_in_bytes"), "52428800");
    assert_eq!(get(&d, "memory.swappiness"), "10");
    assert_eq!(get(&d, "memory.oom_control"), "1");
    assert_eq!(get(&d, "memory.kmem.tcp.limit_in_bytes"), "1048576");
}

#[test]
fn memory_growing_limit_writes_memsw_first() {
    let f = Fake::new(&["memory"]).with_files(&[("memory", "memory.limit_in_bytes")]);
    let d = f.dir("memory");
    put(&d, "memory.memsw.limit_in_bytes", "1000");
    // Record the order by making both writes land in one file.
    std::fs::remove_file(d.join("memory.limit_in_bytes")).unwrap();
    std::os::unix::fs::symlink(
        d.join("memory.memsw.limit_in_bytes"),
        d.join("memory.limit_in_bytes"),
    )
    .unwrap();
    std::fs::write(d.join("memory.memsw.limit_in_bytes"), "1000 ").unwrap();
    f.m.apply(&resources(r#"{"memory":{"limit":5000,"swap":8000}}"#))
        .unwrap();
    assert_eq!(get(&d, "memory.memsw.limit_in_bytes"), "1000 80005000");
}

#[test]
fn memory_unlimited_and_swap_unsupported() {
    let f = Fake::new(&["memory"]).with_files(&[("memory", "memory.limit_in_bytes")]);
    f.m.apply(&resources(r#"{"memory":{"limit":-1}}"#)).unwrap();
    assert_eq!(get(&f.dir("memory"), "memory.limit_in_bytes"), "-1");
    let e =
        f.m.apply(&resources(r#"{"memory":{"limit":100,"swap":200}}"#))
            .unwrap_err();
    assert!(matches!(e, CgroupError::Unsupported { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("memory.swap")
            && msg.contains("memory.memsw.limit_in_bytes")
            && msg.contains("swapaccount=1"),
        "{msg}"
    );
}

#[test]
fn swappiness_out_of_range() {
    let f = Fake::new(&["memory"]).with_files(&[("memory", "memory.swappiness")]);
    let e =
        f.m.apply(&resources(r#"{"memory":{"swappiness":101}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("101"), "{e}");
}

#[test]
fn cpu_and_cpuset() {
    let f = Fake::new(&["cpu", "cpuset"]).with_files(&[
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpu", "cpu.rt_runtime_us"),
        ("cpu", "cpu.rt_period_us"),
        ("cpu", "cpu.idle"),
    ]);
    // create() filled cpuset from the parent; start from empty files.
    put(&f.dir("cpuset"), "cpuset.cpus", "");
    put(&f.dir("cpuset"), "cpuset.mems", "");
    f.m.apply(&resources(
        r#"{"cpu":{"shares":512,"quota":50000,"period":100000,"realtimeRuntime":950,
            "realtimePeriod":1000,"cpus":"0-1","mems":"0","idle":1}}"#,
    ))
    .unwrap();
    let d = f.dir("cpu");
    assert_eq!(get(&d, "cpu.shares"), "512");
    assert_eq!(get(&d, "cpu.cfs_quota_us"), "50000");
    assert_eq!(get(&d, "cpu.cfs_period_us"), "100000");
    assert_eq!(get(&d, "cpu.rt_runtime_us"), "950");
    assert_eq!(get(&d, "cpu.rt_period_us"), "1000");
    assert_eq!(get(&d, "cpu.idle"), "1");
    assert_eq!(get(&f.dir("cpuset"), "cpuset.cpus"), "0-1");
    assert_eq!(get(&f.dir("cpuset"), "cpuset.mems"), "0");
}

#[test]
fn cpu_negative_quota_means_unlimited_and_missing_rt_is_explained() {
    let f = Fake::new(&["cpu"]).with_files(&[("cpu", "cpu.cfs_quota_us")]);
    f.m.apply(&resources(r#"{"cpu":{"quota":-5}}"#)).unwrap();
    assert_eq!(get(&f.dir("cpu"), "cpu.cfs_quota_us"), "-1");
    let e =
        f.m.apply(&resources(r#"{"cpu":{"realtimeRuntime":5}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("CONFIG_RT_GROUP_SCHED"), "{e}");
}

#[test]
fn pids_limit() {
    let f = Fake::new(&["pids"]).with_files(&[("pids", "pids.max")]);
    f.m.apply(&resources(r#"{"pids":{"limit":0}}"#)).unwrap();
    f.m.apply(&resources(r#"{"pids":{"limit":-1}}"#)).unwrap();
    f.m.apply(&resources(r#"{"pids":{"limit":64}}"#)).unwrap();
    assert_eq!(get(&f.dir("pids"), "pids.max"), "maxmax64");
}

#[test]
fn blkio_weights_and_throttles() {
    let f = Fake::new(&["blkio"]).with_files(&[
        ("blkio", "blkio.bfq.weight"),
        ("blkio", "blkio.bfq.weight_device"),
        ("blkio", "blkio.throttle.read_bps_device"),
        ("blkio", "blkio.throttle.write_bps_device"),
        ("blkio", "blkio.throttle.read_iops_device"),
        ("blkio", "blkio.throttle.write_iops_device"),
    ]);
    f.m.apply(&resources(
        r#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":200}],
            "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
            "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2097152}],
            "throttleReadIOPSDevice":[{"major":8,"minor":16,"rate":100}],
            "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":200}]}}"#,
    ))
    .unwrap();
    let d = f.dir("blkio");
    // No CFQ blkio.weight here, so BFQ's file takes the same value.
    assert_eq!(get(&d, "blkio.bfq.weight"), "300");
    assert_eq!(get(&d, "blkio.bfq.weight_device"), "8:0 200");
    assert_eq!(get(&d, "blkio.throttle.read_bps_device"), "8:0 1048576");
    assert_eq!(get(&d, "blkio.throttle.write_bps_device"), "8:0 2097152");
    assert_eq!(get(&d, "blkio.throttle.read_iops_device"), "8:16 100");
    assert_eq!(get(&d, "blkio.throttle.write_iops_device"), "8:16 200");

    let e =
        f.m.apply(&resources(r#"{"blockIO":{"leafWeight":10}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("leafWeight"), "{e}");
}

#[test]
fn blkio_prefers_cfq_weight() {
    let f = Fake::new(&["blkio"]).with_files(&[
        ("blkio", "blkio.weight"),
        ("blkio", "blkio.bfq.weight"),
        ("blkio", "blkio.leaf_weight"),
    ]);
    f.m.apply(&resources(r#"{"blockIO":{"weight":300,"leafWeight":20}}"#))
        .unwrap();
    assert_eq!(get(&f.dir("blkio"), "blkio.weight"), "300");
    assert_eq!(get(&f.dir("blkio"), "blkio.bfq.weight"), "");
    assert_eq!(get(&f.dir("blkio"), "blkio.leaf_weight"), "20");
}

#[test]
fn devices_in_order() {
    let f = Fake::new(&["devices"])
        .with_files(&[("devices", "devices.allow"), ("devices", "devices.deny")]);
    f.m.apply(&resources(
        r#"{"devices":[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rw"},
            {"allow":false,"type":"b","major":8,"minor":-1}]}"#,
    ))
    .unwrap();
    assert_eq!(
        get(&f.dir("devices"), "devices.allow"),
        "c 1:3 rwmc 136:* rw"
    );
    assert_eq!(get(&f.dir("devices"), "devices.deny"), "a *:* rwmb 8:* rwm");
}

#[test]
fn hugetlb_network_unified_errors() {
    let f = Fake::new(&["memory"]).with_files(&[]);
    let e =
        f.m.apply(&resources(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1048576}]}"#,
        ))
        .unwrap_err();
    assert!(
        matches!(&e, CgroupError::NoHierarchy { controller, .. } if controller == "hugetlb"),
        "{e:?}"
    );
    let e =
        f.m.apply(&resources(r#"{"network":{"classID":1048577}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("net_cls"), "{e}");
    let e =
        f.m.apply(&resources(
            r#"{"unified":{"memory.high":"1","io.weight":"2"}}"#,
        ))
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("io.weight, memory.high") && msg.contains("cgroup v1"),
        "{msg}"
    );
}

#[test]
fn hugetlb_and_network_written() {
    let f = Fake::new(&["hugetlb", "net_cls,net_prio"]).with_files(&[
        ("hugetlb", "hugetlb.2MB.limit_in_bytes"),
        ("net_cls,net_prio", "net_cls.classid"),
        ("net_cls,net_prio", "net_prio.ifpriomap"),
    ]);
    f.m.apply(&resources(
        r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],
            "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]}}"#,
    ))
    .unwrap();
    assert_eq!(
        get(&f.dir("hugetlb"), "hugetlb.2MB.limit_in_bytes"),
        "4194304"
    );
    assert_eq!(
        get(&f.dir("net_cls,net_prio"), "net_cls.classid"),
        "1048577"
    );
    assert_eq!(
        get(&f.dir("net_cls,net_prio"), "net_prio.ifpriomap"),
        "eth0 5"
    );
    let e =
        f.m.apply(&resources(
            r#"{"hugepageLimits":[{"pageSize":"1GB","limit":1}]}"#,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("hugetlb.1GB.limit_in_bytes"), "{e}");
}

#[test]
fn unset_fields_write_nothing() {
    let files = [
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.swappiness"),
        ("cpu", "cpu.shares"),
        ("pids", "pids.max"),
        ("devices", "devices.allow"),
    ];
    let f = Fake::new(HIERARCHIES).with_files(&files);
    f.m.apply(&resources(
        r#"{"memory":{},"cpu":{},"blockIO":{},"devices":[]}"#,
    ))
    .unwrap();
    f.m.apply(&resources("{}")).unwrap();
    for (h, file) in files {
        assert_eq!(get(&f.dir(h), file), "", "{file}");
    }
}

#[test]
fn pids_include_descendants() {
    let f = Fake::new(&["pids", "memory"]).with_files(&[]);
    put(&f.dir("pids"), "cgroup.procs", "10\n3\n");
    put(&f.dir("pids").join("sub"), "cgroup.procs", "7\n");
    put(&f.dir("memory"), "cgroup.procs", "99\n");
    assert_eq!(f.m.pids().unwrap(), vec![3, 7, 10]);
}

#[test]
fn destroy_removes_descendants_and_is_idempotent() {
    let f = Fake::new(&["memory", "pids"]);
    f.m.create().unwrap();
    std::fs::create_dir_all(f.dir("memory").join("a/b")).unwrap();
    f.m.destroy().unwrap();
    assert!(!f.m.exists());
    assert!(
        f.root.join("memory/berth").is_dir(),
        "parents are left alone"
    );
    f.m.destroy().unwrap();
}

#[test]
fn freezer_state_and_freeze() {
    let f = Fake::new(&["freezer"]).with_files(&[("freezer", "freezer.state")]);
    let p = Path::new("freezer.state");
    assert_eq!(
        parse_freezer_state(p, "THAWED\n").unwrap(),
        FreezerState::Thawed
    );
    assert_eq!(
        parse_freezer_state(p, "FREEZING\n").unwrap(),
        FreezerState::Freezing
    );
    assert_eq!(
        parse_freezer_state(p, "FROZEN\n").unwrap(),
        FreezerState::Frozen
    );
    assert!(parse_freezer_state(p, "bogus").is_err());
    f.m.freeze().unwrap();
    assert_eq!(f.m.freezer_state().unwrap(), FreezerState::Frozen);
    // No freezer hierarchy: never frozen.
    let g = Fake::new(&["memory"]);
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);
}

#[test]
fn oom_kill_count() {
    let f = Fake::new(&["memory"]).with_files(&[]);
    put(
        &f.dir("memory"),
        "memory.oom_control",
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    );
    assert_eq!(f.m.oom_kill_count().unwrap(), 3);
    put(
        &f.dir("memory"),
        "memory.oom_control",
        "oom_kill_disable 1\nunder_oom 0\n",
    );
    assert_eq!(f.m.oom_kill_count().unwrap(), 0);
}

#[test]
fn stats_from_fixtures() {
    let f = Fake::new(&["cpu", "cpuacct", "memory", "pids", "blkio", "hugetlb"]).with_files(&[]);
    let ca = f.dir("cpuacct");
    put(&ca, "cpuacct.usage", "3000\n");
    put(&ca, "cpuacct.usage_percpu", "1000 2000 \n");
    put(&ca, "cpuacct.usage_percpu_sys", "100 200\n");
    put(&ca, "cpuacct.usage_percpu_user", "900 1800\n");
    put(&ca, "cpuacct.stat", "user 2\nsystem 1\n");
    put(
        &f.dir("cpu"),
        "cpu.stat",
        "nr_periods 10\nnr_throttled 4\nthrottled_time 12345\n",
    );
    let m = f.dir("memory");
    put(&m, "memory.usage_in_bytes", "4096\n");
    put(&m, "memory.max_usage_in_bytes", "8192\n");
    put(&m, "memory.limit_in_bytes", "9223372036854771712\n");
    put(&m, "memory.failcnt", "2\n");
    put(&m, "memory.stat", "cache 1024\nrss 2048\n");
    put(&f.dir("pids"), "pids.current", "3\n");
    put(&f.dir("pids"), "pids.max", "max\n");
    put(
        &f.dir("blkio"),
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\nTotal 12288\n",
    );
    put(
        &f.dir("blkio"),
        "blkio.throttle.io_serviced_recursive",
        "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
    );
    put(&f.dir("hugetlb"), "hugetlb.2MB.usage_in_bytes", "2097152\n");
    put(
        &f.dir("hugetlb"),
        "hugetlb.2MB.max_usage_in_bytes",
        "4194304\n",
    );
    put(&f.dir("hugetlb"), "hugetlb.2MB.failcnt", "1\n");
    put(&f.dir("hugetlb"), "hugetlb.2MB.rsvd.usage_in_bytes", "0\n");

    let s = f.m.stats().unwrap();
    assert_eq!(s.cpu.usage.total, 3000);
    assert_eq!(s.cpu.usage.percpu, vec![1000, 2000]);
    assert_eq!(s.cpu.usage.percpu_kernel, vec![100, 200]);
    assert_eq!(s.cpu.usage.percpu_user, vec![900, 1800]);
    let tick = 1_000_000_000 / stats::clock_ticks_for_tests();
    assert_eq!((s.cpu.usage.user, s.cpu.usage.kernel), (2 * tick, tick));
    assert_eq!(s.cpu.throttling.throttled_periods, 4);
    assert_eq!(s.cpu.throttling.throttled_time, 12345);
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.max, 8192);
    assert_eq!(s.memory.usage.failcnt, 2);
    assert_eq!(s.memory.cache, 1024);
    assert_eq!(s.memory.raw["rss"], 2048);
    assert_eq!(s.memory.swap.limit, 0, "no memsw files: omitted");
    assert_eq!((s.pids.current, s.pids.limit), (3, 0));
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 3);
    assert_eq!(s.blkio.io_service_bytes_recursive[1].op, "Write");
    assert_eq!(s.blkio.io_service_bytes_recursive[1].value, 8192);
    assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
    assert_eq!(s.hugetlb.len(), 1);
    assert_eq!(s.hugetlb["2MB"].max, 4194304);
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["blkio"]["ioServiceBytesRecursive"][0]["major"], 8);
}
