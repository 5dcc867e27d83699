//! OCI hooks: order, state on stdin, and failure reporting.

mod common;

use common::State;
use serde_json::{json, Value};
use std::path::Path;

/// One hook script serves all phases: it logs "<name> <status>" and keeps
/// the state JSON it got on stdin. It uses only sh/cat/sed so the same file
/// runs on the host and (for startContainer) inside the busybox rootfs.
const HOOK: &str = r#"name=$1; dir=$2
cat > "$dir/$name.json"
status=$(sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p' "$dir/$name.json")
echo "$name $status" >> "$dir/log"
"#;

#[test]
fn hooks_run_in_order_with_state() {
    let Some(mut t) = common::setup("hooks_run_in_order_with_state") else {
        return;
    };
    let dir = t.share("/hooks");
    std::fs::write(dir.join("hook.sh"), HOOK).unwrap();
    let d = dir.display().to_string();
    let host_hook =
        |name: &str| json!([{"path": "/bin/sh", "args": ["sh", format!("{d}/hook.sh"), name, d]}]);
    // startContainer runs after pivot_root: its path and args are
    // container paths.
    t.config["hooks"] = json!({
        "prestart": host_hook("prestart"),
        "createRuntime": host_hook("createRuntime"),
        "createContainer": host_hook("createContainer"),
        "startContainer": [{"path": "/bin/sh",
            "args": ["sh", "/hooks/hook.sh", "startContainer", "/hooks"]}],
        "poststart": host_hook("poststart"),
        "poststop": host_hook("poststop"),
    });
    t.sh("echo process >> /hooks/log");
    let out = t.run().check();

    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let names: Vec<&str> = log
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    // The process writes to the same log; poststart may race with it.
    let hooks_only: Vec<&str> = names.iter().copied().filter(|n| *n != "process").collect();
    let pos = |n: &str| {
        hooks_only
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("hook {n} never ran; log:\n{log}\n{out}"))
    };
    for pair in [
        ("prestart", "createRuntime"),
        ("createRuntime", "createContainer"),
        ("createContainer", "startContainer"),
        ("startContainer", "poststop"),
        ("poststart", "poststop"),
    ] {
        assert!(
            pos(pair.0) < pos(pair.1),
            "{} after {}; log:\n{log}",
            pair.0,
            pair.1
        );
    }
    assert_eq!(hooks_only.len(), 6, "a hook ran twice; log:\n{log}");
    // startContainer vs poststart is a race in runc 1.1 and in berth; it
    // is checked deterministically by poststart_after_start_container.
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("startContainer") < at("process"), "log:\n{log}");
    assert!(at("process") < at("poststop"), "log:\n{log}");

    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap_or_default();
        let st = State::parse(&text);
        assert_eq!(st.id, t.id, "{name} state: {text}");
        assert!(!st.oci_version.is_empty(), "{name} state: {text}");
        assert!(Path::new(&st.bundle).is_absolute(), "{name} state: {text}");
        assert!(
            ["creating", "created", "running", "stopped"].contains(&st.status.as_str()),
            "{name} state: {text}"
        );
        if name != "poststop" {
            assert!(st.pid > 0, "{name} has no pid: {text}");
        }
    }
    let status = |n: &str| {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{n}.json"))).unwrap())
                .unwrap();
        v["status"].as_str().unwrap_or_default().to_string()
    };
    assert_eq!(status("poststop"), "stopped");
}

#[test]
fn failing_hook_fails_create() {
    let Some(mut t) = common::setup("failing_hook_fails_create") else {
        return;
    };
    let marker = format!("hook-boom-{}", t.id);
    t.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {marker} >&2; exit 3")]}],
    });
    t.set_args(&["sleep", "1000"]);
    let out = t.create();
    assert!(!out.ok(), "create succeeded despite failing hook: {out}");
    assert!(
        out.stderr.contains(&marker) || out.stdout.contains(&marker),
        "hook output not in error: {out}"
    );
    let st = t.rt(&["state", &t.id]);
    if st.ok() {
        // runc keeps nothing; a runtime that does must not claim it is alive.
        let s = State::parse(&st.stdout);
        assert_ne!(s.status, "created", "{st}");
        assert_ne!(s.status, "running", "{st}");
    }
}

#[test]
fn hook_timeout_fails_create() {
    let Some(mut t) = common::setup("hook_timeout_fails_create") else {
        return;
    };
    t.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 5"], "timeout": 1}],
    });
    t.set_args(&["sleep", "1000"]);
    let started = std::time::Instant::now();
    let out = t.create();
    let took = started.elapsed();
    assert!(!out.ok(), "create succeeded despite hook timeout: {out}");
    assert!(
        took < std::time::Duration::from_millis(4500),
        "create waited for the hook ({took:?}): {out}"
    );
    // runc 1.1 says "hook ran past specified timeout of 1.0s".
    let msg = out.stderr.to_lowercase();
    assert!(
        msg.contains("timed out") || msg.contains("timeout"),
        "error does not mention the timeout: {out}"
    );
    if common::runtime::RuntimeBin::get().is_berth() {
        assert!(msg.contains("timed out"), "{out}");
    }
}

#[test]
fn hook_gets_env_args_and_argv0() {
    let Some(mut t) = common::setup("hook_gets_env_args_and_argv0") else {
        return;
    };
    let dir = t.share("/hooks");
    let d = dir.display().to_string();
    t.config["hooks"] = json!({
        "createRuntime": [{
            "path": "/bin/sh",
            "args": ["itest-argv0", "-c",
                "echo \"$(tr '\\0' '\\n' < /proc/$$/cmdline | head -1) $1 $ITEST_HOOK_ENV ${HOME:-nohome}\" > \"$2\"",
                "zero", "one", format!("{d}/out")],
            "env": ["ITEST_HOOK_ENV=hook-env-ok"],
        }],
    });
    t.sh("true");
    t.run().check();
    let text = std::fs::read_to_string(dir.join("out")).unwrap_or_default();
    // Only the configured environment: no HOME inherited from the runtime.
    assert_eq!(text.trim(), "itest-argv0 one hook-env-ok nohome");
}

#[test]
fn failing_prestart_hook_leaves_nothing() {
    let Some(mut t) = common::setup("failing_prestart_hook_leaves_nothing") else {
        return;
    };
    t.config["linux"]["resources"]["pids"] = json!({"limit": 20});
    t.config["hooks"] = json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}],
    });
    t.set_args(&["sleep", "1000"]);
    let out = t.create();
    assert!(!out.ok(), "{out}");
    assert!(
        common::host::wait_until(std::time::Duration::from_secs(5), || {
            common::host::cgroup_dirs(&t.id).is_empty()
        }),
        "cgroup left: {:?}",
        common::host::cgroup_dirs(&t.id)
    );
    let st = t.rt(&["state", &t.id]);
    assert!(!st.ok(), "container left behind: {st}");
    assert!(common::host::mounts_under(&t.bundle).is_empty());
}

/// The spec runs poststart after the user process was executed, hence
/// after startContainer. A slow startContainer hook makes the order
/// observable: both runc 1.1 and berth run poststart as soon as init is
/// released, before startContainer has finished.
#[test]
fn poststart_after_start_container() {
    let Some(mut t) = common::setup("poststart_after_start_container") else {
        return;
    };
    let dir = t.share("/hooks");
    let d = dir.display().to_string();
    t.config["hooks"] = json!({
        "startContainer": [{"path": "/bin/sh",
            "args": ["sh", "-c", "sleep 1; echo startContainer >> /hooks/log"]}],
        "poststart": [{"path": "/bin/sh",
            "args": ["sh", "-c", format!("echo poststart >> {d}/log")]}],
    });
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    t.start().check();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines, ["startContainer", "poststart"], "log:\n{log}");
}

/// createContainer hooks run in the container's mount namespace (with
/// runtime-namespace paths, before pivot_root); createRuntime hooks run in
/// the runtime's.
#[test]
fn hook_namespaces() {
    let Some(mut t) = common::setup("hook_namespaces") else {
        return;
    };
    let dir = t.share("/hooks");
    let d = dir.display().to_string();
    let rec = |name: &str| {
        json!([{"path": "/bin/sh",
            "args": ["sh", "-c", format!("readlink /proc/self/ns/mnt > {d}/{name}")]}])
    };
    t.config["hooks"] = json!({
        "createRuntime": rec("createRuntime"),
        "createContainer": rec("createContainer"),
    });
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let st = t.state();
    let init_ns = std::fs::read_link(format!("/proc/{}/ns/mnt", st.pid)).unwrap();
    let own_ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let read = |n: &str| {
        std::fs::read_to_string(dir.join(n))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    assert_eq!(read("createContainer"), init_ns.display().to_string());
    assert_eq!(read("createRuntime"), own_ns.display().to_string());
}
