//! Root filesystem setup: pivot modes, propagation, bind and tmpfs mount
//! options, and the device nodes the container sees.

mod common;

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn run_no_pivot() {
    let Some(mut t) = common::setup("run_no_pivot") else {
        return;
    };
    t.sh("test -x /bin/busybox && echo root-ok; test -e /proc/self/fd && echo proc-ok");
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let out = t
        .rt(&["run", "--no-pivot", "--bundle", &bundle, &t.id])
        .check();
    assert!(out.stdout.contains("root-ok"), "{out}");
    assert!(out.stdout.contains("proc-ok"), "{out}");
}

/// The propagation flags of the container's `/` as mountinfo shows them.
fn root_optional_fields(mountinfo: &str) -> String {
    mountinfo
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .map(|l| {
            l.split(" - ")
                .next()
                .unwrap_or_default()
                .split(' ')
                .skip(6)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| panic!("no / in mountinfo:\n{mountinfo}"))
}

#[test]
fn rootfs_propagation_accepted() {
    let Some(mut t) = common::setup("rootfs_propagation_accepted") else {
        return;
    };
    t.sh("cat /proc/self/mountinfo");
    for prop in ["rslave", "private"] {
        t.config["linux"]["rootfsPropagation"] = json!(prop);
        let id = t.new_id();
        let out = t.run_id(&id).check();
        let fields = root_optional_fields(&out.stdout);
        // Neither mode may leave the root a peer of a host mount.
        assert!(
            !fields.contains("shared:"),
            "{prop}: / is {fields:?}: {out}"
        );
        if prop == "private" {
            assert!(!fields.contains("master:"), "{prop}: / is {fields:?}");
        }
    }
}

#[test]
fn rootfs_propagation_bogus_fails() {
    let Some(mut t) = common::setup("rootfs_propagation_bogus_fails") else {
        return;
    };
    t.config["linux"]["rootfsPropagation"] = json!("sideways");
    t.sh("echo RAN");
    let out = t.run();
    assert!(!out.ok(), "bogus rootfsPropagation accepted: {out}");
    assert!(!out.stdout.contains("RAN"), "{out}");
    assert!(
        out.stderr.contains("sideways") || out.stderr.contains("ropagation"),
        "error does not name the bad value: {out}"
    );
}

#[test]
fn bind_mount_ro_is_read_only() {
    let Some(mut t) = common::setup("bind_mount_ro_is_read_only") else {
        return;
    };
    let host = t.path("ro-src");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "content").unwrap();
    t.add_mount(json!({
        "destination": "/ro", "type": "bind", "source": host, "options": ["bind", "ro"]
    }));
    t.sh("cat /ro/f; echo; if touch /ro/new 2>/dev/null; then echo ro=writable; else echo ro=denied; fi");
    let out = t.run().check();
    assert!(out.stdout.contains("content"), "{out}");
    assert!(out.stdout.contains("ro=denied"), "{out}");
    assert!(!host.join("new").exists());
}

/// A tmpfs mounted on the host below the test's temp dir, unmounted on drop
/// (declare it after the TestCtx so it is dropped first).
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn mount(at: PathBuf) -> HostTmpfs {
        std::fs::create_dir_all(&at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "itest-sub"])
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

#[test]
fn rbind_rro_makes_submounts_read_only() {
    let Some(mut t) = common::setup("rbind_rro_makes_submounts_read_only") else {
        return;
    };
    let src = t.path("rro-src");
    std::fs::create_dir(&src).unwrap();
    let _sub = HostTmpfs::mount(src.join("sub"));
    t.add_mount(json!({
        "destination": "/r", "type": "bind", "source": src, "options": ["rbind", "rro"]
    }));
    t.sh(
        "for d in /r /r/sub; do if touch $d/x 2>/dev/null; then echo $d=rw; else echo $d=ro; fi; done; \
         grep ' /r/sub ' /proc/self/mountinfo",
    );
    let out = t.run().check();
    assert!(out.stdout.contains("/r=ro"), "{out}");
    assert!(
        out.stdout.contains("/r/sub=ro"),
        "submount not recursive ro: {out}"
    );
    assert!(!src.join("sub/x").exists());
}

#[test]
fn tmpfs_tmpcopyup_shows_image_files() {
    let Some(mut t) = common::setup("tmpfs_tmpcopyup_shows_image_files") else {
        return;
    };
    let image_passwd = std::fs::read_to_string(t.rootfs.join("etc/passwd")).unwrap();
    t.add_mount(json!({
        "destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "mode=755", "size=1m"]
    }));
    t.sh("grep ' /etc ' /proc/self/mountinfo; cat /etc/passwd; echo scribble > /etc/itest-new");
    let out = t.run().check();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(" /etc ") && l.contains("tmpfs")),
        "/etc is not a tmpfs: {out}"
    );
    assert!(out.stdout.contains(image_passwd.trim()), "{out}");
    assert!(
        !t.rootfs.join("etc/itest-new").exists(),
        "write went to the image"
    );
}

#[test]
fn linux_devices_entry_created() {
    let Some(mut t) = common::setup("linux_devices_entry_created") else {
        return;
    };
    t.config["linux"]["devices"] = json!([{
        "path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
        "fileMode": 0o620, "uid": 1, "gid": 2
    }]);
    // The default capabilities lack CAP_DAC_OVERRIDE: write as the owner.
    t.config["process"]["user"] = json!({"uid": 1, "gid": 0});
    t.sh("stat -c '%a %u %g %t %T %F' /dev/mynull; echo hi > /dev/mynull && echo write=ok");
    let out = t.run().check();
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "620 1 2 1 3 character special file"),
        "{out}"
    );
    assert!(out.stdout.contains("write=ok"), "{out}");
}

#[test]
fn default_devices_and_links() {
    let Some(mut t) = common::setup("default_devices_and_links") else {
        return;
    };
    t.sh(
        "for d in null zero full random urandom tty; do stat -c '%n %a %F' /dev/$d; done; \
         for l in fd stdin stdout stderr ptmx; do echo /dev/$l '->' $(readlink /dev/$l); done; \
         grep ' /dev/pts ' /proc/self/mountinfo; \
         head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null=ok",
    );
    let out = t.run().check();
    for d in ["null", "zero", "full", "random", "urandom", "tty"] {
        let want = format!("/dev/{d} 666 character special file");
        assert!(out.stdout.lines().any(|l| l == want), "want {want}: {out}");
    }
    for (l, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let want = format!("/dev/{l} -> {target}");
        assert!(out.stdout.lines().any(|x| x == want), "want {want}: {out}");
    }
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(" /dev/pts ") && l.contains(" devpts ")),
        "/dev/pts not devpts: {out}"
    );
    assert!(out.stdout.lines().any(|l| l.trim() == "4"), "{out}");
    assert!(out.stdout.contains("null=ok"), "{out}");
}

#[test]
fn tmpcopyup_preserves_modes_owners_links() {
    let Some(mut t) = common::setup("tmpcopyup_preserves_modes_owners_links") else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let data = t.rootfs.join("data");
    std::fs::create_dir_all(data.join("d")).unwrap();
    std::fs::write(data.join("f"), "ffff").unwrap();
    std::fs::write(data.join("d/g"), "gggg").unwrap();
    std::fs::set_permissions(data.join("f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(data.join("d"), std::fs::Permissions::from_mode(0o751)).unwrap();
    std::os::unix::fs::chown(data.join("f"), Some(5), Some(6)).unwrap();
    std::os::unix::fs::chown(data.join("d"), Some(7), Some(8)).unwrap();
    std::os::unix::fs::symlink("f", data.join("l")).unwrap();
    t.add_mount(json!({
        "destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "size=1m"]
    }));
    t.sh(
        "stat -c '%n %a %u %g' /data/f /data/d; readlink /data/l; cat /data/d/g; echo; \
         grep -c ' /data .* tmpfs ' /proc/self/mountinfo",
    );
    let out = t.run().check();
    for want in ["/data/f 640 5 6", "/data/d 751 7 8", "f", "gggg", "1"] {
        assert!(
            out.stdout.lines().any(|l| l == want),
            "want {want:?}: {out}"
        );
    }
}

#[test]
fn bind_mount_single_file() {
    let Some(mut t) = common::setup("bind_mount_single_file") else {
        return;
    };
    let src = t.path("single-file");
    std::fs::write(&src, "file-bind-ok\n").unwrap();
    t.add_mount(json!({
        "destination": "/etc/itest/conf", "type": "bind", "source": src, "options": ["bind", "ro"]
    }));
    t.sh("cat /etc/itest/conf; test -f /etc/itest/conf && echo is-file");
    let out = t.run().check();
    assert!(out.stdout.contains("file-bind-ok"), "{out}");
    assert!(out.stdout.contains("is-file"), "{out}");
}

#[test]
fn bind_mount_flags_applied() {
    let Some(mut t) = common::setup("bind_mount_flags_applied") else {
        return;
    };
    let src = t.path("flags-src");
    std::fs::create_dir(&src).unwrap();
    t.add_mount(json!({
        "destination": "/flags", "type": "bind", "source": src,
        "options": ["rbind", "nosuid", "nodev", "noexec", "ro"]
    }));
    t.sh("grep ' /flags ' /proc/self/mountinfo");
    let out = t.run().check();
    let opts: Vec<&str> = out
        .stdout
        .split_whitespace()
        .nth(5)
        .unwrap_or_else(|| panic!("no /flags mount: {out}"))
        .split(',')
        .collect();
    for want in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&want), "want {want} in {opts:?}: {out}");
    }
}

#[test]
fn linux_devices_default_mode() {
    let Some(mut t) = common::setup("linux_devices_default_mode") else {
        return;
    };
    t.config["linux"]["devices"] = json!([{
        "path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5
    }]);
    t.sh("stat -c '%a %u %g %t %T' /dev/sub/myzero; head -c 3 /dev/sub/myzero | wc -c");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["666 0 0 1 5", "3"], "{out}");
}

#[test]
fn tmpcopyup_read_only() {
    let Some(mut t) = common::setup("tmpcopyup_read_only") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "ro", "size=1m"]
    }));
    t.sh(
        "head -1 /etc/passwd; if touch /etc/x 2>/dev/null; then echo etc=rw; else echo etc=ro; fi",
    );
    let out = t.run().check();
    assert!(out.stdout.starts_with("root:"), "{out}");
    assert!(out.stdout.contains("etc=ro"), "{out}");
}

/// A relative bind source is relative to the bundle directory.
#[test]
fn bind_mount_relative_source() {
    let Some(mut t) = common::setup("bind_mount_relative_source") else {
        return;
    };
    std::fs::create_dir(t.bundle.join("reldata")).unwrap();
    std::fs::write(t.bundle.join("reldata/f"), "relative-ok\n").unwrap();
    t.add_mount(json!({
        "destination": "/rel", "type": "bind", "source": "reldata", "options": ["rbind"]
    }));
    t.sh("cat /rel/f");
    // Run from elsewhere so only the bundle can anchor the path.
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let out = t
        .rt_with(
            &["run", "--bundle", &bundle, &t.id],
            common::runtime::Call {
                cwd: Some(std::path::Path::new("/")),
                ..Default::default()
            },
        )
        .check();
    assert_eq!(out.stdout.trim(), "relative-ok", "{out}");
}

/// berth (like crun) allows each linux.devices node in the device cgroup,
/// even under a deny-all rule. runc 1.1 does not: the open fails with EPERM
/// unless resources.devices allows it too, so this is held against berth only.
#[test]
fn linux_devices_allowed_by_device_cgroup() {
    let Some(mut t) = common::setup("linux_devices_allowed_by_device_cgroup") else {
        return;
    };
    if !common::runtime::RuntimeBin::get().is_berth() {
        common::loud("SKIPPED: linux_devices_allowed_by_device_cgroup is berth's policy");
        return;
    }
    if !std::path::Path::new("/dev/fuse").exists() {
        common::loud("SKIPPED: linux_devices_allowed_by_device_cgroup needs /dev/fuse");
        return;
    }
    t.config["linux"]["devices"] = json!([{
        "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666
    }]);
    t.config["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    t.sh("if exec 3<>/dev/fuse; then echo open=ok; else echo open=failed; fi");
    let out = t.run().check();
    assert!(out.stdout.contains("open=ok"), "{out}");
}
