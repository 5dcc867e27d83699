use std::path::{Path, PathBuf};

use super::*;
use crate::error::CgroupError;
use crate::test_support::{get, put, resources};

/// A fake cgroup2 root offering `controllers`, with "/berth" already there
/// (so its cgroup.controllers can be faked) and "/berth/ctr" as the target.
struct Fake {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    m: V2Manager,
}

impl Fake {
    fn new(controllers: &str) -> Fake {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        put(&root, "cgroup.controllers", controllers);
        put(&root, "cgroup.subtree_control", "");
        put(&root.join("berth"), "cgroup.controllers", controllers);
        put(&root.join("berth"), "cgroup.subtree_control", "");
        let m = V2Manager::new(&root, Path::new("/berth/ctr"));
        Fake { _tmp: tmp, root, m }
    }

    fn dir(&self) -> PathBuf {
        self.root.join("berth/ctr")
    }

    fn with_files(self, files: &[&str]) -> Self {
        self.m.create().unwrap();
        for f in files {
            put(&self.dir(), f, "");
        }
        self
    }
}

#[test]
fn create_enables_offered_controllers_in_ancestors() {
    let f = Fake::new("cpuset cpu io memory hugetlb pids rdma misc perf_event\n");
    put(&f.root, "cgroup.subtree_control", "cpu ");
    f.m.create().unwrap();
    assert!(f.dir().is_dir());
    // Already enabled "cpu" is not requested again; perf_event is not wanted.
    assert_eq!(
        get(&f.root, "cgroup.subtree_control"),
        "cpu +cpuset +io +memory +hugetlb +pids +rdma +misc"
    );
    assert_eq!(
        get(&f.root.join("berth"), "cgroup.subtree_control"),
        "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc"
    );
    assert!(
        !f.dir().join("cgroup.subtree_control").exists(),
        "the leaf keeps its own controllers off"
    );
    assert_eq!(f.m.v2_path(), Some(f.dir()));
    assert!(f.m.v1_mounts().is_empty());
    assert_eq!(f.m.version(), Version::V2);
}

#[test]
fn create_with_few_controllers() {
    let f = Fake::new("memory pids\n");
    f.m.create().unwrap();
    assert_eq!(get(&f.root, "cgroup.subtree_control"), "+memory +pids");
}

#[test]
fn add_task() {
    let f = Fake::new("").with_files(&["cgroup.procs"]);
    f.m.add_task(77).unwrap();
    assert_eq!(get(&f.dir(), "cgroup.procs"), "77");
}

#[test]
fn memory_conversions() {
    let f = Fake::new("memory").with_files(&["memory.max", "memory.low", "memory.swap.max"]);
    f.m.apply(&resources(r#"{"memory":{"limit":104857600,"reservation":52428800,"swap":314572800,"swappiness":5,"disableOOMKiller":true}}"#)).unwrap();
    assert_eq!(get(&f.dir(), "memory.max"), "104857600");
    assert_eq!(get(&f.dir(), "memory.low"), "52428800");
    assert_eq!(get(&f.dir(), "memory.swap.max"), "209715200");

    let g = Fake::new("memory").with_files(&["memory.max", "memory.swap.max"]);
    g.m.apply(&resources(r#"{"memory":{"limit":-1}}"#)).unwrap();
    assert_eq!(get(&g.dir(), "memory.max"), "max");
    assert_eq!(
        get(&g.dir(), "memory.swap.max"),
        "",
        "swap unset: untouched"
    );
    g.m.apply(&resources(r#"{"memory":{"limit":-1,"swap":0}}"#))
        .unwrap();
    assert_eq!(get(&g.dir(), "memory.swap.max"), "max");

    let e =
        g.m.apply(&resources(r#"{"memory":{"limit":200,"swap":100}}"#))
            .unwrap_err();
    assert!(matches!(e, CgroupError::InvalidResource { .. }), "{e:?}");
}

#[test]
fn swap_without_accounting_is_explained() {
    let f = Fake::new("memory").with_files(&["memory.max"]);
    let e =
        f.m.apply(&resources(r#"{"memory":{"limit":100,"swap":200}}"#))
            .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("memory.swap.max") && msg.contains("swap accounting"),
        "{msg}"
    );
}

#[test]
fn cpu_conversions() {
    let f = Fake::new("cpu cpuset").with_files(&[
        "cpu.weight",
        "cpu.max",
        "cpu.idle",
        "cpuset.cpus",
        "cpuset.mems",
        "cpu.max.burst",
    ]);
    f.m.apply(&resources(r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"idle":1,"cpus":"0-1","mems":"0","burst":1000}}"#)).unwrap();
    let d = f.dir();
    assert_eq!(get(&d, "cpu.weight"), "39");
    assert_eq!(get(&d, "cpu.max"), "50000 100000");
    assert_eq!(get(&d, "cpu.idle"), "1");
    assert_eq!(get(&d, "cpuset.cpus"), "0-1");
    assert_eq!(get(&d, "cpuset.mems"), "0");
    assert_eq!(get(&d, "cpu.max.burst"), "1000");
}

#[test]
fn cpu_max_variants() {
    let f = Fake::new("cpu").with_files(&[]);
    let d = f.dir();
    put(&d, "cpu.max", "");
    f.m.apply(&resources(r#"{"cpu":{"quota":-1,"period":50000}}"#))
        .unwrap();
    assert_eq!(get(&d, "cpu.max"), "max 50000");
    put(&d, "cpu.max", "20000 100000\n");
    f.m.apply(&resources(r#"{"cpu":{"period":200000}}"#))
        .unwrap();
    assert_eq!(
        get(&d, "cpu.max"),
        "20000 100000\n20000 200000",
        "quota kept"
    );
    put(&d, "cpu.max", "");
    f.m.apply(&resources(r#"{"cpu":{"quota":30000}}"#)).unwrap();
    assert_eq!(get(&d, "cpu.max"), "30000");
}

#[test]
fn realtime_and_network_rejected() {
    let f = Fake::new("cpu").with_files(&["cpu.weight"]);
    let e =
        f.m.apply(&resources(r#"{"cpu":{"realtimeRuntime":950000}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("real-time"), "{e}");
    let e =
        f.m.apply(&resources(r#"{"network":{"classID":1}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("net_cls"), "{e}");
}

#[test]
fn pids_limit() {
    let f = Fake::new("pids").with_files(&["pids.max"]);
    f.m.apply(&resources(r#"{"pids":{"limit":0}}"#)).unwrap();
    f.m.apply(&resources(r#"{"pids":{"limit":100}}"#)).unwrap();
    assert_eq!(get(&f.dir(), "pids.max"), "max100");
}

#[test]
fn missing_controller_names_the_field() {
    let f = Fake::new("memory").with_files(&[]);
    let e =
        f.m.apply(&resources(r#"{"pids":{"limit":10}}"#))
            .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("linux.resources.pids.limit") && msg.contains("pids.max"),
        "{msg}"
    );
}

#[test]
fn io_weight_and_max() {
    let f = Fake::new("io").with_files(&["io.weight", "io.max"]);
    f.m.apply(&resources(
        r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":10}],
            "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
            "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}],
            "throttleReadIOPSDevice":[{"major":8,"minor":16,"rate":100}],
            "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":300}]}}"#,
    ))
    .unwrap();
    assert_eq!(get(&f.dir(), "io.weight"), "default 49508:0 1");
    assert_eq!(
        get(&f.dir(), "io.max"),
        "8:0 rbps=1048576 wbps=max wiops=3008:16 riops=100"
    );
}

#[test]
fn io_bfq_weight_unconverted() {
    let f = Fake::new("io").with_files(&["io.weight", "io.bfq.weight"]);
    f.m.apply(&resources(r#"{"blockIO":{"weight":500}}"#))
        .unwrap();
    assert_eq!(get(&f.dir(), "io.bfq.weight"), "500");
    assert_eq!(get(&f.dir(), "io.weight"), "");
}

#[test]
fn hugetlb_and_unified() {
    let f = Fake::new("hugetlb memory").with_files(&["hugetlb.2MB.max", "memory.high"]);
    f.m.apply(&resources(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}],"unified":{"memory.high":"1000000"}}"#)).unwrap();
    assert_eq!(get(&f.dir(), "hugetlb.2MB.max"), "4194304");
    assert_eq!(get(&f.dir(), "memory.high"), "1000000");
    for bad in [
        r#"{"unified":{"../x":"1"}}"#,
        r#"{"unified":{"cgroup.procs":"1"}}"#,
    ] {
        let e = f.m.apply(&resources(bad)).unwrap_err();
        assert!(matches!(e, CgroupError::InvalidResource { .. }), "{e:?}");
    }
    let e =
        f.m.apply(&resources(r#"{"unified":{"io.weight":"100"}}"#))
            .unwrap_err();
    assert!(e.to_string().contains("io controller"), "{e}");
}

#[test]
fn unset_fields_write_nothing() {
    let files = [
        "memory.max",
        "memory.low",
        "cpu.weight",
        "cpu.max",
        "pids.max",
        "io.weight",
    ];
    let f = Fake::new("cpu memory pids io").with_files(&files);
    f.m.apply(&resources(
        r#"{"memory":{},"cpu":{},"blockIO":{},"devices":[],"unified":{}}"#,
    ))
    .unwrap();
    for file in files {
        assert_eq!(get(&f.dir(), file), "", "{file}");
    }
}

#[test]
fn freezer_state_parsing() {
    let p = Path::new("cgroup.events");
    assert_eq!(
        freezer_state_from(p, "0\n", "populated 1\nfrozen 0\n").unwrap(),
        FreezerState::Thawed
    );
    assert_eq!(
        freezer_state_from(p, "1\n", "populated 1\nfrozen 0\n").unwrap(),
        FreezerState::Freezing
    );
    assert_eq!(
        freezer_state_from(p, "1\n", "populated 1\nfrozen 1\n").unwrap(),
        FreezerState::Frozen
    );
}

#[test]
fn freeze_on_fake_tree() {
    let f = Fake::new("").with_files(&["cgroup.freeze"]);
    put(&f.dir(), "cgroup.events", "populated 0\nfrozen 1\n");
    f.m.freeze().unwrap();
    assert_eq!(get(&f.dir(), "cgroup.freeze"), "1");
    assert_eq!(f.m.freezer_state().unwrap(), FreezerState::Frozen);
}

#[test]
fn pids_destroy_oom() {
    let f = Fake::new("memory").with_files(&[]);
    put(&f.dir(), "cgroup.procs", "5\n1\n");
    put(&f.dir().join("a/b"), "cgroup.procs", "9\n");
    assert_eq!(f.m.pids().unwrap(), vec![1, 5, 9]);
    put(
        &f.dir(),
        "memory.events",
        "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    assert_eq!(f.m.oom_kill_count().unwrap(), 2);

    let g = Fake::new("memory");
    g.m.create().unwrap();
    std::fs::create_dir_all(g.dir().join("x/y")).unwrap();
    std::fs::create_dir_all(g.dir().join("z")).unwrap();
    g.m.destroy().unwrap();
    assert!(!g.m.exists());
    g.m.destroy().unwrap();
}

#[test]
fn stats_from_fixtures() {
    let f = Fake::new("").with_files(&[]);
    let d = f.dir();
    put(&d, "cpu.stat", "usage_usec 300\nuser_usec 200\nsystem_usec 100\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n");
    put(&d, "memory.current", "4096\n");
    put(&d, "memory.max", "max\n");
    put(&d, "memory.peak", "8192\n");
    put(
        &d,
        "memory.events",
        "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n",
    );
    put(&d, "memory.swap.current", "1024\n");
    put(&d, "memory.swap.max", "2048\n");
    put(&d, "memory.stat", "anon 100\nfile 300\n");
    put(&d, "pids.current", "4\n");
    put(&d, "pids.max", "50\n");
    put(
        &d,
        "io.stat",
        "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    put(&d, "hugetlb.2MB.current", "0\n");
    put(&d, "hugetlb.2MB.events", "max 6\n");
    put(&d, "hugetlb.2MB.rsvd.current", "0\n");
    let s = f.m.stats().unwrap();
    assert_eq!(
        (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
        (300_000, 200_000, 100_000)
    );
    assert_eq!(
        (
            s.cpu.throttling.periods,
            s.cpu.throttling.throttled_periods,
            s.cpu.throttling.throttled_time
        ),
        (5, 2, 7000)
    );
    assert_eq!(s.memory.usage.usage, 4096);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.max, 8192);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.swap.usage, 4096 + 1024);
    assert_eq!(s.memory.cache, 300);
    assert_eq!(s.memory.raw["anon"], 100);
    assert_eq!((s.pids.current, s.pids.limit), (4, 50));
    assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
    assert_eq!(s.blkio.io_serviced_recursive[1].value, 2);
    assert_eq!(s.hugetlb.len(), 1);
    assert_eq!(s.hugetlb["2MB"].failcnt, 6);
}
