//! Per-process settings: rlimits, OOM score, personality, sysctls,
//! no_new_privs, preserved fds, and seccomp kill and argument filters.

mod common;

use common::runtime::{read_lossy, RuntimeBin};
use serde_json::json;
use std::process::Command;

#[test]
fn rlimit_nofile_soft_and_hard() {
    let Some(mut t) = common::setup("rlimit_nofile_soft_and_hard") else {
        return;
    };
    t.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
    t.sh("ulimit -n; ulimit -Hn");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["512", "1024"], "{out}");
}

#[test]
fn oom_score_adj() {
    let Some(mut t) = common::setup("oom_score_adj") else {
        return;
    };
    t.config["process"]["oomScoreAdj"] = json!(500);
    t.sh("cat /proc/self/oom_score_adj");
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "500", "{out}");
}

/// runtime-spec 1.2; runc 1.1 ignores `linux.personality`.
#[test]
fn personality_linux32() {
    let Some(mut t) = common::setup("personality_linux32") else {
        return;
    };
    let host_m = String::from_utf8(Command::new("uname").arg("-m").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    t.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    t.sh("uname -m");
    let out = t.run().check();
    let want = match host_m.as_str() {
        "x86_64" => "i686",
        "aarch64" => "armv8l",
        other => other,
    };
    assert_eq!(out.stdout.trim(), want, "{out}");
}

#[test]
fn sysctl_in_namespaces() {
    let Some(mut t) = common::setup("sysctl_in_namespaces") else {
        return;
    };
    // kernel.msgmax is per IPC namespace, net.* per network namespace; the
    // default spec gives the container both.
    t.config["linux"]["sysctl"] = json!({"kernel.msgmax": "4321", "net.ipv4.ip_forward": "1"});
    let host_msgmax = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    t.sh("cat /proc/sys/kernel/msgmax /proc/sys/net/ipv4/ip_forward");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["4321", "1"], "{out}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap(),
        host_msgmax,
        "host msgmax changed"
    );
}

#[test]
fn no_new_privileges_flag() {
    let Some(mut t) = common::setup("no_new_privileges_flag") else {
        return;
    };
    t.sh("grep NoNewPrivs /proc/self/status");
    for (flag, want) in [(true, "1"), (false, "0")] {
        t.config["process"]["noNewPrivileges"] = json!(flag);
        let id = t.new_id();
        let out = t.run_id(&id).check();
        let v = out
            .stdout
            .trim()
            .strip_prefix("NoNewPrivs:")
            .map(str::trim)
            .unwrap_or_else(|| panic!("{out}"));
        assert_eq!(v, want, "noNewPrivileges {flag}: {out}");
    }
}

#[test]
fn preserve_fds_passes_fd_3() {
    let Some(mut t) = common::setup("preserve_fds_passes_fd_3") else {
        return;
    };
    let payload = t.path("payload");
    std::fs::write(&payload, "preserved-fd-content\n").unwrap();
    t.sh("cat <&3; ls -l /proc/self/fd/ | grep -c ' 4 -> ' ; echo done");
    t.write_config_for(&t.id);
    let rt = RuntimeBin::get();
    let stdout = t.path("pfd.stdout");
    let stderr = t.path("pfd.stderr");
    // The shell opens the file as fd 3 (and a decoy as fd 4) and then
    // becomes the runtime.
    let st = Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\" 4<\"$0\"; exec \"$@\"")
        .arg(&payload)
        .arg(&rt.bin)
        .args(&rt.prefix)
        .arg("--root")
        .arg(&t.root)
        .args(["run", "--preserve-fds", "1", "--bundle"])
        .arg(&t.bundle)
        .arg(&t.id)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .status()
        .expect("run runtime");
    let (o, e) = (read_lossy(&stdout), read_lossy(&stderr));
    assert!(st.success(), "{st}\n{o}\n{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines, ["preserved-fd-content", "0", "done"], "stderr: {e}");
}

const ARCHES: [&str; 4] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
];

#[test]
fn seccomp_kill_action() {
    let Some(mut t) = common::setup("seccomp_kill_action") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=1777", "size=1m"]
    }));
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]
    });
    // The shell forks mkdir, which dies of SIGSYS (31): 128 + 31.
    t.sh("mkdir /tmp/x; echo rc=$?; test -d /tmp/x || echo absent");
    let out = t.run().check();
    assert!(out.stdout.contains("rc=159"), "{out}");
    assert!(out.stdout.contains("absent"), "{out}");
}

#[test]
fn seccomp_argument_filters() {
    let Some(mut t) = common::setup("seccomp_argument_filters") else {
        return;
    };
    // kill(pid, sig): ash's kill builtin calls it directly. SIGCONT (18) to
    // ourselves is harmless, so its denial is observable as a failed
    // builtin. The masked rule has mask 31 and datum 18; swapped operands
    // (mask 18, datum 31) would never match.
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES,
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 31, "valueTwo": 18, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 12, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    // The shell is pid 1 of its namespace: unhandled signals from inside
    // are dropped, so an allowed kill() simply returns 0.
    t.sh("kill -CONT $$ 2>/dev/null; echo cont=$?; \
         kill -USR2 $$ 2>/dev/null; echo usr2=$?; \
         kill -0 $$; echo zero=$?; \
         kill -TERM $$; echo term=$?");
    let out = t.run().check();
    for want in ["cont=1", "usr2=1", "zero=0", "term=0"] {
        assert!(out.stdout.lines().any(|l| l == want), "want {want}: {out}");
    }
}

#[test]
fn exec_inherits_rlimits_and_seccomp() {
    let Some(mut t) = common::setup("exec_inherits_rlimits_and_seccomp") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=1777", "size=1m"]
    }));
    t.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t
        .exec(
            &[],
            &[
                "sh",
                "-c",
                "ulimit -n; ulimit -Hn; mkdir /tmp/x; echo rc=$?",
            ],
        )
        .check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["512", "1024", "rc=1"], "{out}");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
}

#[test]
fn exec_no_new_privs_flag() {
    let Some(mut t) = common::setup("exec_no_new_privs_flag") else {
        return;
    };
    t.config["process"]["noNewPrivileges"] = json!(false);
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let grep = ["grep", "NoNewPrivs", "/proc/self/status"];
    let plain = t.exec(&[], &grep).check();
    assert!(plain.stdout.contains("NoNewPrivs:\t0"), "{plain}");
    let nnp = t.exec(&["--no-new-privs"], &grep).check();
    assert!(nnp.stdout.contains("NoNewPrivs:\t1"), "{nnp}");
}

#[test]
fn exec_preserve_fds() {
    let Some(mut t) = common::setup("exec_preserve_fds") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let payload = t.path("exec-payload");
    std::fs::write(&payload, "exec-fd-content\n").unwrap();
    let rt = RuntimeBin::get();
    let o = Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\"; exec \"$@\"")
        .arg(&payload)
        .arg(&rt.bin)
        .args(&rt.prefix)
        .arg("--root")
        .arg(&t.root)
        .args(["exec", "--preserve-fds", "1", &t.id, "sh", "-c", "cat <&3"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run runtime");
    let (so, se) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{}\n{so}\n{se}", o.status);
    assert_eq!(so.trim(), "exec-fd-content", "stderr: {se}");
}

#[test]
fn seccomp_kill_process_action() {
    let Some(mut t) = common::setup("seccomp_kill_process_action") else {
        return;
    };
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=1777", "size=1m"]
    }));
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ARCHES,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]
    });
    t.sh("mkdir /tmp/x; echo rc=$?");
    let out = t.run().check();
    assert!(out.stdout.contains("rc=159"), "{out}");
}

#[test]
fn invalid_rlimits_rejected() {
    let Some(mut t) = common::setup("invalid_rlimits_rejected") else {
        return;
    };
    t.sh("echo RAN");
    for bad in [
        json!([{"type": "RLIMIT_ITEST_BOGUS", "soft": 1, "hard": 1}]),
        json!([{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]),
    ] {
        t.config["process"]["rlimits"] = bad.clone();
        let id = t.new_id();
        let out = t.run_id(&id);
        assert!(!out.ok(), "{bad} accepted: {out}");
        assert!(!out.stdout.contains("RAN"), "{out}");
    }
}
