//! Namespaces beyond the defaults: joining by path, time offsets, UTS
//! domain name, cgroup and IPC isolation, loopback in a new netns.

mod common;

use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Replaces (or adds) the namespace entry of `kind`.
fn set_namespace(t: &mut common::TestCtx, ns: Value) {
    let kind = ns["type"].as_str().unwrap().to_string();
    let list = t.config["linux"]["namespaces"].as_array_mut().unwrap();
    list.retain(|n| n["type"] != kind.as_str());
    list.push(ns);
}

/// A named network namespace (`ip netns add`), deleted on drop.
struct NetNs(String);

impl NetNs {
    fn new() -> NetNs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "berth-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let ns = NetNs(name);
        ns.ip(&["netns", "add", &ns.0]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.0)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn join_network_namespace_by_path() {
    let Some(mut t) = common::setup("join_network_namespace_by_path") else {
        return;
    };
    let ns = NetNs::new();
    // The dummy link type needs a module this host may lack, so the mark
    // is an address on the namespace's own lo.
    ns.ip(&["-n", &ns.0, "addr", "add", "10.213.7.1/32", "dev", "lo"]);
    set_namespace(&mut t, json!({"type": "network", "path": ns.path()}));
    t.sh("ip addr show lo");
    let out = t.run().check();
    assert!(out.stdout.contains("10.213.7.1/32"), "{out}");
}

#[test]
fn new_network_namespace_has_lo_up() {
    let Some(mut t) = common::setup("new_network_namespace_has_lo_up") else {
        return;
    };
    set_namespace(&mut t, json!({"type": "network"}));
    t.sh("ip link show; ip addr show lo");
    let out = t.run().check();
    let lo = out
        .stdout
        .lines()
        .find(|l| l.contains(": lo:"))
        .unwrap_or_else(|| panic!("no lo: {out}"));
    assert!(
        lo.contains(",UP") || lo.contains("<UP"),
        "lo is down: {out}"
    );
    assert!(out.stdout.contains("127.0.0.1"), "{out}");
    // Nothing but lo in a fresh namespace.
    let links = out
        .stdout
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()) && l.contains(": <"))
        .count();
    assert!(links <= 3, "host links leaked in: {out}");
}

/// Time namespaces are runtime-spec 1.2; runc 1.1 rejects the namespace.
#[test]
fn time_namespace_offsets() {
    let Some(mut t) = common::setup("time_namespace_offsets") else {
        return;
    };
    const YEAR: u64 = 86400 * 365;
    set_namespace(&mut t, json!({"type": "time"}));
    // /proc/uptime follows CLOCK_BOOTTIME; monotonic is set alongside.
    t.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": YEAR, "nanosecs": 0},
        "boottime": {"secs": YEAR, "nanosecs": 0},
    });
    t.sh("cat /proc/uptime");
    let host_before = host_uptime();
    let out = t.run().check();
    let host_after = host_uptime();
    let inside: f64 = out
        .stdout
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no uptime: {out}"));
    let y = YEAR as f64;
    assert!(
        inside >= host_before + y - 1.0 && inside <= host_after + y + 1.0,
        "uptime inside {inside}, host {host_before}..{host_after}: {out}"
    );
}

fn host_uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// runc 1.1 ignores `domainname` (it prints "(none)").
#[test]
fn uts_namespace_domainname() {
    let Some(mut t) = common::setup("uts_namespace_domainname") else {
        return;
    };
    t.config["hostname"] = json!("itest-host");
    t.config["domainname"] = json!("itest.example");
    t.sh("cat /proc/sys/kernel/domainname /proc/sys/kernel/hostname");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["itest.example", "itest-host"], "{out}");
    let host_dom = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    assert_ne!(host_dom.trim(), "itest.example", "host domainname changed");
}

#[test]
fn cgroup_namespace_root_paths() {
    let Some(mut t) = common::setup("cgroup_namespace_root_paths") else {
        return;
    };
    set_namespace(&mut t, json!({"type": "cgroup"}));
    t.sh("cat /proc/self/cgroup");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(!lines.is_empty(), "{out}");
    for l in lines {
        assert!(
            l.ends_with(":/"),
            "cgroup path not namespaced: {l:?}\n{out}"
        );
    }
}

#[test]
fn ipc_namespace_hides_host_queues() {
    let Some(mut t) = common::setup("ipc_namespace_hides_host_queues") else {
        return;
    };
    // A host message queue with a distinctive key, removed on drop.
    struct Queue(String);
    impl Drop for Queue {
        fn drop(&mut self) {
            let _ = Command::new("ipcrm").args(["-q", &self.0]).status();
        }
    }
    let out = Command::new("ipcmk").arg("-Q").output().expect("ipcmk");
    assert!(out.status.success(), "ipcmk -Q failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let qid = text
        .split_whitespace()
        .last()
        .expect("queue id")
        .to_string();
    let _q = Queue(qid.clone());
    let host_msg = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    assert!(host_msg.lines().count() >= 2, "queue not visible on host");

    set_namespace(&mut t, json!({"type": "ipc"}));
    t.sh("cat /proc/sysvipc/msg");
    let out = t.run().check();
    assert_eq!(out.stdout.lines().count(), 1, "host queues visible: {out}");
}

#[test]
fn exec_joins_cgroup_namespace() {
    let Some(mut t) = common::setup("exec_joins_cgroup_namespace") else {
        return;
    };
    set_namespace(&mut t, json!({"type": "cgroup"}));
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.exec(&[], &["cat", "/proc/self/cgroup"]).check();
    for l in out.stdout.lines() {
        assert!(
            l.ends_with(":/"),
            "exec outside the cgroup ns: {l:?}\n{out}"
        );
    }
}

#[test]
fn exec_joins_time_namespace() {
    let Some(mut t) = common::setup("exec_joins_time_namespace") else {
        return;
    };
    const YEAR: u64 = 86400 * 365;
    set_namespace(&mut t, json!({"type": "time"}));
    t.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": YEAR, "nanosecs": 0}});
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.exec(&[], &["cat", "/proc/uptime"]).check();
    let inside: f64 = out
        .stdout
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        inside > YEAR as f64 && inside < host_uptime() + YEAR as f64 + 1.0,
        "exec uptime {inside}: {out}"
    );
}

#[test]
fn hostname_without_uts_namespace_fails() {
    let Some(mut t) = common::setup("hostname_without_uts_namespace_fails") else {
        return;
    };
    t.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "uts");
    t.config["hostname"] = json!("must-not-reach-host");
    t.sh("echo RAN");
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = t.run();
    assert!(!out.ok(), "{out}");
    assert!(!out.stdout.contains("RAN"), "{out}");
    assert!(
        out.stderr.contains("UTS") || out.stderr.contains("uts"),
        "unclear error: {out}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host_before
    );
}
