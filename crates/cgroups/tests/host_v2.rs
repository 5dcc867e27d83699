//! Root-only tests against a real cgroup2 hierarchy: /sys/fs/cgroup on a
//! v2 host, /sys/fs/cgroup/unified on a hybrid one. The manager's root is a
//! test-owned cgroup so that enabling controllers never touches the host's
//! own cgroup.subtree_control.

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

use berth_cgroups::{FreezerState, Manager, V2Manager, Version};

fn cgroup2_mount() -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mi.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.split(' ').next()? != "cgroup2" {
            return None;
        }
        pre.split(' ').nth(4).map(PathBuf::from)
    })
}

struct Guard {
    base: PathBuf,
    m: V2Manager,
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
        let _ = std::fs::remove_dir(&self.base);
    }
}

#[test]
fn v2_lifecycle_on_real_cgroup2() {
    if !rustix::process::geteuid().is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("v2_lifecycle_on_real_cgroup2: needs root, and CI=true forbids skipping");
        }
        loud!("\n!!!!!!!! v2_lifecycle_on_real_cgroup2: SKIPPED (needs root) !!!!!!!!\n");
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        loud!("\n!!!!!!!! v2_lifecycle_on_real_cgroup2: SKIPPED (no cgroup2 mount) !!!!!!!!\n");
        return;
    };
    let base = mount.join(format!("berth-test-{}-v2", std::process::id()));
    std::fs::create_dir(&base).unwrap();
    let mut g = Guard {
        m: V2Manager::new(&base, Path::new("/pod/ctr")),
        child: None,
        base,
    };
    assert_eq!(g.m.version(), Version::V2);
    g.m.create().unwrap();
    assert!(g.m.exists());
    let dir = g.m.v2_path().unwrap();
    assert!(dir.join("cgroup.procs").exists());

    let child = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    g.child = Some(child);
    g.m.add_task(pid).unwrap();
    assert_eq!(g.m.pids().unwrap(), vec![pid]);

    g.m.freeze().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Frozen);
    g.m.thaw().unwrap();
    assert_eq!(g.m.freezer_state().unwrap(), FreezerState::Thawed);

    // Device filter through apply(), as the runtime will use it.
    let r: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}]}"#).unwrap();
    g.m.apply(&r).unwrap();

    let s = g.m.stats().unwrap();
    assert!(serde_json::to_value(&s).unwrap()["cpu"]["usage"].is_object());

    let mut child = g.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    g.m.destroy().unwrap();
    assert!(!g.m.exists());
    assert!(
        g.base.join("pod").exists(),
        "only the container's cgroup is removed"
    );
    std::fs::remove_dir(g.base.join("pod")).unwrap();
}
