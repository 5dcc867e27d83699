//! Filesystem, capability, seccomp and user-namespace isolation, observed
//! from inside the container.

mod common;

use common::host::cap_bit;
use serde_json::json;

#[test]
fn masked_proc_paths() {
    let Some(mut t) = common::setup("masked_proc_paths") else {
        return;
    };
    t.config["linux"]["maskedPaths"] = json!(["/proc/kcore", "/proc/scsi", "/proc/timer_list"]);
    // /proc/scsi only exists on hosts with a SCSI layer; masked, it is
    // either absent or an empty read-only tmpfs.
    t.sh("printf 'kcore=%s\\n' $(cat /proc/kcore | wc -c); \
         printf 'timer=%s\\n' $(cat /proc/timer_list | wc -c); \
         printf 'scsi=%s\\n' $(ls -A /proc/scsi 2>/dev/null | wc -l)");
    let out = t.run().check();
    for want in ["kcore=0", "timer=0", "scsi=0"] {
        assert!(out.stdout.lines().any(|l| l == want), "want {want}: {out}");
    }
}

#[test]
fn readonly_proc_sys() {
    let Some(mut t) = common::setup("readonly_proc_sys") else {
        return;
    };
    t.config["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    // kernel/hostname is per UTS namespace, so even a broken runtime that
    // lets the write through cannot change the host.
    t.sh("if echo itest > /proc/sys/kernel/hostname; then echo WRITABLE; else echo DENIED; fi");
    let out = t.run().check();
    assert!(out.stdout.contains("DENIED"), "{out}");
    assert!(
        out.stderr.contains("Read-only file system") || out.stdout.contains("Read-only"),
        "{out}"
    );
}

#[test]
fn readonly_root_with_writable_tmpfs() {
    let Some(mut t) = common::setup("readonly_root_with_writable_tmpfs") else {
        return;
    };
    t.config["root"]["readonly"] = json!(true);
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1777", "size=1m"]
    }));
    t.sh(
        "if touch /x 2>/dev/null; then echo root=rw; else echo root=ro; fi; \
         if touch /tmp/y; then echo tmp=rw; else echo tmp=ro; fi",
    );
    let out = t.run().check();
    assert!(out.stdout.contains("root=ro"), "{out}");
    assert!(out.stdout.contains("tmp=rw"), "{out}");
    assert!(!t.rootfs.join("x").exists());
}

fn caps_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |m, n| m | 1u64 << cap_bit(n))
}

#[test]
fn capabilities_match_config() {
    let Some(mut t) = common::setup("capabilities_match_config") else {
        return;
    };
    let bounding = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"];
    let effective = ["CAP_CHOWN", "CAP_NET_RAW"];
    t.config["process"]["capabilities"] = json!({
        "bounding": bounding,
        "effective": effective,
        "permitted": effective,
        "inheritable": [],
        "ambient": [],
    });
    t.sh("grep -E '^Cap(Eff|Bnd|Prm):' /proc/self/status");
    let out = t.run().check();
    let field = |name: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex caps"))
            .unwrap_or_else(|| panic!("no {name}: {out}"))
    };
    assert_eq!(field("CapBnd:"), caps_mask(&bounding), "{out}");
    assert_eq!(field("CapEff:"), caps_mask(&effective), "{out}");
    assert_eq!(field("CapPrm:"), caps_mask(&effective), "{out}");
}

#[test]
fn seccomp_errno_rule() {
    let Some(mut t) = common::setup("seccomp_errno_rule") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=1777", "size=1m"]
    }));
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"],
        "syscalls": [{
            "names": ["mkdir", "mkdirat"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": 38
        }]
    });
    t.sh("mkdir /tmp/x; echo rc=$?; touch /tmp/file && echo touch=ok");
    let out = t.run().check();
    // ENOSYS (38) rather than the default EPERM proves errnoRet is honoured.
    assert!(out.stderr.contains("Function not implemented"), "{out}");
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.stdout.contains("touch=ok"), "{out}");
}

#[test]
fn user_namespace_mappings() {
    let Some(mut t) = common::setup("user_namespace_mappings") else {
        return;
    };
    // Container root is host uid/gid 100000: it must own its rootfs.
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
    t.sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    let out = t.run().check();
    let maps: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(maps.first(), Some(&vec!["0", "100000", "65536"]), "{out}");
    assert_eq!(maps.get(1), Some(&vec!["0", "100000", "65536"]), "{out}");
    assert_eq!(maps.get(2), Some(&vec!["0"]), "{out}");
}
