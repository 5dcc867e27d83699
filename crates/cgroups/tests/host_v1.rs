//! Root-only tests against the real cgroup v1 hierarchies of the host,
//! through the public API only. Each test uses a unique cgroup and a Drop
//! guard that kills its child and removes the cgroup even on failure.

/// Written straight to fd 2: libtest captures eprintln! of passing tests,
/// which would hide that a test did not really run.
macro_rules! loud {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use berth_cgroups::{detect, open, CgroupError, FreezerState, Manager, Version, DEFAULT_ROOT};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_path() -> PathBuf {
    PathBuf::from(format!(
        "/berth-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Root and a v1 host are needed; otherwise skip loudly (or fail on CI
/// when the reason is missing root).
fn usable(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: needs root, and CI=true forbids skipping");
        }
        loud!("\n!!!!!!!! {test}: SKIPPED (needs root) !!!!!!!!\n");
        return false;
    }
    if detect(Path::new(DEFAULT_ROOT)).unwrap() != Version::V1 {
        loud!("\n!!!!!!!! {test}: SKIPPED (host is not cgroup v1) !!!!!!!!\n");
        return false;
    }
    true
}

struct Guard {
    m: Box<dyn Manager>,
    child: Option<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.m.thaw();
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.m.destroy();
    }
}

fn file(m: &dyn Manager, hierarchy: &str, name: &str) -> String {
    let (_, dir) = m
        .v1_mounts()
        .into_iter()
        .find(|(n, _)| n.split(',').any(|c| c == hierarchy))
        .unwrap_or_else(|| panic!("no {hierarchy} hierarchy"));
    std::fs::read_to_string(dir.join(name))
        .unwrap()
        .trim()
        .to_string()
}

fn res(json: &str) -> oci_spec::runtime::LinuxResources {
    serde_json::from_str(json).unwrap()
}

/// A new process moves itself in through the `tasks` files (the entry the
/// runtime uses), into every hierarchy at once.
#[test]
fn a_forked_child_enters_on_its_own() {
    if !usable("a_forked_child_enters_on_its_own") {
        return;
    }
    let path = unique_path();
    let m = open(Path::new(DEFAULT_ROOT), &path).unwrap();
    let g = Guard { m, child: None };
    g.m.create().unwrap();
    let entry = g.m.entry().unwrap();
    assert!(
        entry.dir_fd().is_none(),
        "v1 has no directory to clone into"
    );
    let mut cmd = Command::new("cat");
    cmd.arg("/proc/self/cgroup");
    // SAFETY: the closure runs in the forked child before exec, where only the
    // forking thread exists; it makes write(2) calls on descriptors opened before
    // the fork and allocates nothing.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(move || entry.enter_self().map_err(std::io::Error::other));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let want = path.to_str().unwrap();
    for (name, _) in g.m.v1_mounts() {
        let line = text
            .lines()
            .find(|l| {
                l.split(':').nth(1).is_some_and(|c| {
                    c.trim_start_matches("name=") == name.trim_start_matches("name=")
                })
            })
            .unwrap_or_else(|| panic!("no line for {name} in {text}"));
        assert!(line.ends_with(want), "{name}: {line} (want {want})");
    }
    assert!(g.m.pids().unwrap().is_empty(), "cat has exited");
}

#[test]
fn lifecycle_on_real_hierarchies() {
    if !usable("lifecycle_on_real_hierarchies") {
        return;
    }
    let m = open(Path::new(DEFAULT_ROOT), &unique_path()).unwrap();
    let mut g = Guard { m, child: None };
    assert_eq!(g.m.version(), Version::V1);
    assert!(g.m.v2_path().is_none());
    g.m.create().unwrap();
    assert!(g.m.exists());
    let names: Vec<String> = g.m.v1_mounts().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().any(|n| n.split(',').any(|c| c == "memory")),
        "{names:?}"
    );
    assert!(
        !file(&*g.m, "cpuset", "cpuset.cpus").is_empty(),
        "cpuset copied from parent"
    );

    let child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    g.child = Some(child);
    g.m.add_task(pid).unwrap();
    assert_eq!(g.m.pids().unwrap(), vec![pid]);

    g.m.apply(&res(r#"{"memory":{"limit":67108864,"reservation":33554432},"pids":{"limit":32},"cpu":{"shares":512,"quota":50000,"period":100000}}"#))
        .unwrap();
    assert_eq!(file(&*g.m, "memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(
        file(&*g.m, "memory", "memory.soft_limit_in_bytes"),
        "33554432"
    );
    assert_eq!(file(&*g.m, "pids", "pids.max"), "32");
    assert_eq!(file(&*g.m, "cpu", "cpu.shares"), "512");
    assert_eq!(file(&*g.m, "cpu", "cpu.cfs_quota_us"), "50000");

    g.m.freeze().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Frozen);
    g.m.thaw().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);

    let s = g.m.stats().unwrap();
    assert_eq!(s.memory.usage.limit, 67108864);
    assert_eq!((s.pids.current, s.pids.limit), (1, 32));
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["cpu"]["usage"].is_object() && json["memory"]["usage"]["limit"] == 67108864);
    assert_eq!(g.m.oom_kill_count().unwrap(), 0);

    // Below current usage v1 refuses with EBUSY after failing to reclaim;
    // if reclaim did succeed the limit simply applies.
    match g.m.apply(&res(r#"{"memory":{"limit":4096}}"#)) {
        Ok(()) => {}
        Err(e @ CgroupError::MemoryLimitBelowUsage { .. }) => {
            assert!(e.to_string().contains("EBUSY"), "{e}");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }

    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    g.m.destroy().unwrap();
    assert!(!g.m.exists());
    g.m.destroy().unwrap();
}

#[test]
fn destroy_removes_nested_cgroups() {
    if !usable("destroy_removes_nested_cgroups") {
        return;
    }
    let outer = unique_path();
    let g = Guard {
        m: open(Path::new(DEFAULT_ROOT), &outer).unwrap(),
        child: None,
    };
    g.m.create().unwrap();
    let inner = open(Path::new(DEFAULT_ROOT), &outer.join("inner")).unwrap();
    inner.create().unwrap();
    g.m.destroy().unwrap();
    assert!(!inner.exists() && !g.m.exists());
}

#[test]
fn device_rules_enforced() {
    if !usable("device_rules_enforced") {
        return;
    }
    let g = Guard {
        m: open(Path::new(DEFAULT_ROOT), &unique_path()).unwrap(),
        child: None,
    };
    g.m.create().unwrap();
    g.m.apply(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#))
        .unwrap();
    let (_, devdir) =
        g.m.v1_mounts()
            .into_iter()
            .find(|(n, _)| n == "devices")
            .unwrap();
    let script = format!(
        "echo $$ > {}/cgroup.procs || exit 9
         if true < /dev/null; then a=ok; else a=denied; fi
         if true < /dev/zero; then b=ok; else b=denied; fi
         echo null=$a zero=$b",
        devdir.display()
    );
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "null=ok zero=denied"
    );
}

/// Relative cgroup paths land under this process's own cgroup in each
/// hierarchy, as /proc/self/cgroup reports it. Nothing is created.
#[test]
fn open_resolves_relative_paths_per_hierarchy() {
    if detect(Path::new(DEFAULT_ROOT)).unwrap() != Version::V1 {
        loud!("\n!!!!!!!! open_resolves_relative_paths_per_hierarchy: SKIPPED (host is not cgroup v1) !!!!!!!!\n");
        return;
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let m = open(Path::new(DEFAULT_ROOT), Path::new("berth-rel/ctr")).unwrap();
    let mounts = m.v1_mounts();
    assert!(!mounts.is_empty());
    for (name, dir) in mounts {
        let line = own
            .lines()
            .find(|l| {
                let ctl = l.split(':').nth(1).unwrap_or("");
                let ctl = ctl.strip_prefix("name=").unwrap_or(ctl);
                ctl == name
            })
            .unwrap_or_else(|| panic!("{name} missing in /proc/self/cgroup"));
        let own_path = line.splitn(3, ':').nth(2).unwrap().trim_start_matches('/');
        let want = Path::new(DEFAULT_ROOT)
            .join(&name)
            .join(own_path)
            .join("berth-rel/ctr");
        assert_eq!(dir, want, "{name}");
    }
}
