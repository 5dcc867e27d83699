//! Regression tests for container-escape CVEs that hit runc. A runtime must
//! defend these by design, not by luck of timing.

mod common;

use common::host;
use serde_json::json;
use std::path::{Path, PathBuf};

/// CVE-2019-5736: a container process could open the runtime binary via
/// /proc/<init>/exe while init was still the runtime, and overwrite the host
/// binary. berth re-executes itself from a binary that cannot be written: a
/// detached read-only bind mount of itself, or a sealed memfd copy where that
/// is not permitted (see crates/runtime/src/sealed.rs).
///
/// runc 1.1 (Debian 1.1.5) also runs init from a detached read-only bind mount.
fn init_exe_is_protected(exe: &str) -> Result<String, String> {
    use std::os::fd::AsFd;
    let target = std::fs::read_link(exe).map_err(|e| format!("readlink {exe}: {e}"))?;
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(exe) {
        drop(f);
        return Err(format!("{exe} ({}) opened for writing", target.display()));
    }
    let f = std::fs::File::open(exe).map_err(|e| format!("open {exe}: {e}"))?;
    let sealed = rustix::fs::fcntl_get_seals(f.as_fd())
        .is_ok_and(|s| s.contains(rustix::fs::SealFlags::WRITE | rustix::fs::SealFlags::SEAL));
    let readonly = rustix::fs::fstatvfs(f.as_fd())
        .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    if sealed {
        Ok(format!("sealed memfd {}", target.display()))
    } else if readonly {
        Ok(format!("read-only mount {}", target.display()))
    } else {
        Err(format!(
            "{exe} ({}) is neither sealed nor on a read-only mount",
            target.display()
        ))
    }
}

#[test]
fn cve_2019_5736_init_exe_cannot_be_written() {
    let Some(mut t) = common::setup("cve_2019_5736_init_exe_cannot_be_written") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let st = t.state();
    assert_eq!(st.status, "created");
    let how = init_exe_is_protected(&format!("/proc/{}/exe", st.pid));
    assert!(how.is_ok(), "{how:?}");
}

/// The fallback used where a read-only bind mount is not permitted (rootless, old
/// kernels): a sealed memfd copy.
#[test]
fn cve_2019_5736_memfd_fallback_is_sealed() {
    let Some(mut t) = common::setup("cve_2019_5736_memfd_fallback_is_sealed") else {
        return;
    };
    let rt = common::runtime::RuntimeBin::get();
    if !rt.is_berth() {
        common::loud("NOTE: memfd fallback is berth-specific; skipped for this runtime");
        return;
    }
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let status = std::process::Command::new(&rt.bin)
        .args(&rt.prefix)
        .arg("--root")
        .arg(&t.root)
        .args(["create", "--bundle"])
        .arg(&t.bundle)
        .arg(&t.id)
        .env("BERTH_EXE_SEAL", "memfd")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run create");
    assert!(status.success());
    let st = t.state();
    let exe = format!("/proc/{}/exe", st.pid);
    let how = init_exe_is_protected(&exe).unwrap_or_else(|e| panic!("{e}"));
    assert!(how.starts_with("sealed memfd /memfd:"), "{how}");
}

/// CVE-2024-21626: runc leaked a host directory fd (/sys/fs/cgroup) into
/// init; a cwd of /proc/self/fd/N then put the process on the host
/// filesystem.
#[test]
fn cve_2024_21626_no_leaked_fds() {
    let Some(mut t) = common::setup("cve_2024_21626_no_leaked_fds") else {
        return;
    };
    t.sh("ls /proc/self/fd; echo cwd=$(readlink /proc/self/cwd)");
    let out = t.run().check();
    let fds: Vec<u32> = out
        .stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let extra: Vec<u32> = fds.iter().copied().filter(|fd| *fd > 2).collect();
    // One extra fd is ls's own handle on the directory it lists.
    assert!(
        [0, 1, 2].iter().all(|fd| fds.contains(fd)) && extra.len() <= 1,
        "unexpected fds {fds:?}: {out}"
    );
    assert!(out.stdout.contains("cwd=/\n"), "{out}");
}

#[test]
fn cve_2024_21626_fd_cwd_cannot_reach_host() {
    let Some(mut t) = common::setup("cve_2024_21626_fd_cwd_cannot_reach_host") else {
        return;
    };
    let secret = format!("host-secret-{}", t.id);
    let marker = t.path("host-marker");
    std::fs::write(&marker, &secret).unwrap();
    let rel = marker.to_string_lossy().trim_start_matches('/').to_string();
    let ups = "../".repeat(12);
    for n in 3..=9 {
        let id = t.new_id();
        t.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        t.sh(&format!(
            "cat {ups}{rel}; cat /proc/self/cwd/{ups}{rel}; pwd"
        ));
        let out = t.run_id(&id);
        assert!(
            !out.stdout.contains(&secret),
            "host file read through cwd /proc/self/fd/{n}: {out}"
        );
    }
}

/// The `exec` flavour of CVE-2024-21626: the leaked fd was also present in
/// `runc exec`'s setns process.
#[test]
fn cve_2024_21626_exec_fd_cwd_cannot_reach_host() {
    let Some(mut t) = common::setup("cve_2024_21626_exec_fd_cwd_cannot_reach_host") else {
        return;
    };
    let secret = format!("host-secret-{}", t.id);
    let marker = t.path("host-marker");
    std::fs::write(&marker, &secret).unwrap();
    let rel = marker.to_string_lossy().trim_start_matches('/').to_string();
    let ups = "../".repeat(12);
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let script = format!("cat {ups}{rel}; pwd");
        let out = t.exec(&["--cwd", &cwd], &["sh", "-c", &script]);
        assert!(
            !out.stdout.contains(&secret),
            "host file read through exec --cwd {cwd}: {out}"
        );
    }
}

/// Removes a directory under /tmp we had to create by absolute name.
struct DirGuard(PathBuf);

impl Drop for DirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// CVE-2021-30465: mount destinations were resolved through symlinks in
/// the rootfs on the host side, so a symlink to a host path mounted over
/// host directories. Destinations must resolve inside the rootfs.
#[test]
fn cve_2021_30465_mount_through_symlink_stays_in_rootfs() {
    let Some(mut t) = common::setup("cve_2021_30465_mount_through_symlink_stays_in_rootfs") else {
        return;
    };
    let host_dir = PathBuf::from(format!("/tmp/hostdir-{}", t.id));
    std::fs::create_dir(&host_dir).expect("create host dir");
    let _guard = DirGuard(host_dir.clone());
    std::os::unix::fs::symlink(&host_dir, t.rootfs.join("evil")).unwrap();
    t.add_mount(json!({
        "destination": "/evil/x", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m"]
    }));
    t.sh("grep -c ' /tmp/hostdir-[^ ]*/x ' /proc/self/mountinfo; ls -d /evil/x");
    let out = t.run();
    let escaped = host_dir.join("x");
    assert!(
        !escaped.exists(),
        "mount destination escaped the rootfs: {} exists ({out})",
        escaped.display()
    );
    assert!(host::mounts_under(&host_dir).is_empty(), "{out}");
    // Either refusing the config or mounting inside the rootfs is fine; if
    // it ran, the tmpfs must sit at the in-rootfs target.
    if out.ok() {
        assert!(out.stdout.starts_with("1\n"), "{out}");
        let inside = t.rootfs.join(host_dir.strip_prefix("/").unwrap()).join("x");
        assert!(Path::new(&inside).is_dir(), "{} missing", inside.display());
    }
}
