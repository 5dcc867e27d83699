//! Features combined with a user namespace, where mknod is refused, mount
//! flags get locked, and ids are remapped.

mod common;

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

const HOST_ID: u32 = 100000;

/// Container root is host uid/gid 100000, owning the rootfs.
fn userns(name: &str) -> Option<common::TestCtx> {
    let mut t = common::setup(name)?;
    let st = Command::new("chown")
        .args(["-R", "-h", &format!("{HOST_ID}:{HOST_ID}")])
        .arg(&t.rootfs)
        .status()
        .expect("chown");
    assert!(st.success());
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    t.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    t.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": HOST_ID, "size": 65536}]);
    Some(t)
}

/// A host tmpfs with `opts`, unmounted on drop (declare after the TestCtx).
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn mount(at: PathBuf, opts: &str) -> HostTmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "itest-userns"])
            .arg(&at)
            .status()
            .expect("mount");
        assert!(st.success(), "mount tmpfs at {}", at.display());
        HostTmpfs(at)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Remounting a bind read-only inside a user namespace must keep the
/// source's locked nosuid/nodev/noexec flags or the kernel says EPERM.
/// runc 1.1.5 fails exactly so ("flags: 0x1021: operation not permitted").
#[test]
fn userns_ro_bind_of_locked_mount() {
    let Some(mut t) = userns("userns_ro_bind_of_locked_mount") else {
        return;
    };
    let src = t.path("locked");
    let _m = HostTmpfs::mount(src.clone(), "size=1m,nosuid,nodev,noexec,mode=755");
    std::fs::write(src.join("f"), "locked-ok\n").unwrap();
    t.add_mount(json!({
        "destination": "/locked", "type": "bind", "source": src, "options": ["bind", "ro"]
    }));
    t.sh(
        "cat /locked/f; if touch /locked/x 2>/dev/null; then echo rw; else echo ro; fi; \
          grep ' /locked ' /proc/self/mountinfo",
    );
    let out = t.run().check();
    assert!(out.stdout.contains("locked-ok"), "{out}");
    assert!(out.stdout.lines().any(|l| l == "ro"), "{out}");
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(" /locked "))
        .unwrap_or_else(|| panic!("{out}"));
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(
            line.split_whitespace()
                .nth(5)
                .unwrap()
                .split(',')
                .any(|o| o == f),
            "{f} missing: {line}"
        );
    }
}

#[test]
fn userns_tmpcopyup() {
    let Some(mut t) = userns("userns_tmpcopyup") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "size=1m"]
    }));
    t.sh(
        "stat -c '%u %g' /etc/passwd; head -1 /etc/passwd; echo new > /etc/itest && echo write=ok",
    );
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["0 0", "root:x:0:0:root:/root:/bin/sh", "write=ok"],
        "{out}"
    );
    assert!(!t.rootfs.join("etc/itest").exists());
}

/// mknod is refused in a user namespace: the host's node is bound in.
#[test]
fn userns_linux_devices_bound_from_host() {
    let Some(mut t) = userns("userns_linux_devices_bound_from_host") else {
        return;
    };
    t.config["linux"]["devices"] = json!([{
        "path": "/dev/full", "type": "c", "major": 1, "minor": 7, "fileMode": 0o666
    }]);
    t.sh("stat -c '%t %T %F' /dev/full /dev/null; \
         if echo x > /dev/full; then echo full=wrote; else echo full=ENOSPC; fi; \
         echo x > /dev/null && echo null=ok");
    let out = t.run().check();
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "1 7 character special file"),
        "{out}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "1 3 character special file"),
        "{out}"
    );
    assert!(out.stdout.contains("full=ENOSPC"), "{out}");
    assert!(out.stdout.contains("null=ok"), "{out}");
}

#[test]
fn userns_exec_is_mapped_root() {
    let Some(mut t) = userns("userns_exec_is_mapped_root") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    let st = t.start_detached();
    let out = t
        .exec(&[], &["sh", "-c", "id -u; cat /proc/self/uid_map"])
        .check();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.first(), Some(&vec!["0"]), "{out}");
    assert_eq!(lines.get(1), Some(&vec!["0", "100000", "65536"]), "{out}");
    // The init process is host uid 100000.
    let status = std::fs::read_to_string(format!("/proc/{}/status", st.pid)).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(uid_line.contains("100000"), "{uid_line}");
}

#[test]
fn userns_with_cgroup_namespace() {
    let Some(mut t) = userns("userns_with_cgroup_namespace") else {
        return;
    };
    let ns = t.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "cgroup");
    ns.push(json!({"type": "cgroup"}));
    t.sh("cat /proc/self/cgroup");
    let out = t.run().check();
    for l in out.stdout.lines() {
        assert!(l.ends_with(":/"), "{l:?}: {out}");
    }
}
