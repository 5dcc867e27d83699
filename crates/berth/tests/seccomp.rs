//! seccomp profiles beyond plain errno rules: loading order against
//! privilege changes, unknown names, TRACE/LOG actions, filter flags.

mod common;

use serde_json::{json, Value};

const ARCHES: [&str; 4] = [
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_AARCH64",
];

fn profile(syscalls: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES, "syscalls": syscalls})
}

fn with_tmp(t: &mut common::TestCtx) {
    t.add_mount(json!({
        "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
        "options": ["mode=1777", "size=1m"]
    }));
}

/// Without no_new_privs the filter must be loaded while the runtime still
/// holds CAP_SYS_ADMIN, before it switches to the unprivileged user.
#[test]
fn seccomp_without_nnp_for_unprivileged_user() {
    let Some(mut t) = common::setup("seccomp_without_nnp_for_unprivileged_user") else {
        return;
    };
    with_tmp(&mut t);
    t.config["process"]["noNewPrivileges"] = json!(false);
    t.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    t.config["linux"]["seccomp"] = profile(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
    ]));
    t.sh("id -u; mkdir /tmp/x; echo rc=$?");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["1000", "rc=1"], "{out}");
    // errnoRet absent: EPERM.
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
}

/// With no_new_privs the filter comes after the runtime's own setuid,
/// setgroups, capset and chdir, so a profile denying them still starts.
#[test]
fn seccomp_with_nnp_loaded_after_privilege_drop() {
    let Some(mut t) = common::setup("seccomp_with_nnp_loaded_after_privilege_drop") else {
        return;
    };
    t.config["process"]["noNewPrivileges"] = json!(true);
    t.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    t.config["linux"]["seccomp"] = profile(json!([{
        "names": ["setuid", "setgid", "setresuid", "setresgid", "setgroups", "capset", "chdir", "umask"],
        "action": "SCMP_ACT_ERRNO"
    }]));
    t.sh("id -u; id -g");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["1000", "1000"], "{out}");
}

#[test]
fn seccomp_unknown_syscall_name_ignored() {
    let Some(mut t) = common::setup("seccomp_unknown_syscall_name_ignored") else {
        return;
    };
    with_tmp(&mut t);
    t.config["linux"]["seccomp"] = profile(json!([
        {"names": ["itest_no_such_syscall", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]));
    t.sh("mkdir /tmp/x; echo rc=$?");
    let out = t.run().check();
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
}

/// SCMP_ACT_TRACE without a tracer fails the call with ENOSYS; SCMP_ACT_LOG
/// lets it through.
#[test]
fn seccomp_trace_and_log_actions() {
    let Some(mut t) = common::setup("seccomp_trace_and_log_actions") else {
        return;
    };
    with_tmp(&mut t);
    t.config["linux"]["seccomp"] = profile(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE"},
        {"names": ["rmdir"], "action": "SCMP_ACT_LOG"}
    ]));
    t.sh("mkdir /tmp/x; echo mkdir=$?; mkdir -p /tmp 2>/dev/null; rmdir /tmp/nonexistent 2>/dev/null; echo rmdir=$?");
    let out = t.run().check();
    assert!(out.stdout.contains("mkdir=1"), "{out}");
    assert!(out.stderr.contains("Function not implemented"), "{out}");
    // rmdir ran (and failed with ENOENT, not a seccomp errno).
    assert!(out.stdout.contains("rmdir=1"), "{out}");
}

/// runc 1.1.5 refuses any flags ("seccomp flags are not yet supported").
#[test]
fn seccomp_filter_flags_accepted() {
    let Some(mut t) = common::setup("seccomp_filter_flags_accepted") else {
        return;
    };
    with_tmp(&mut t);
    let mut p = profile(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]));
    p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
    t.config["linux"]["seccomp"] = p;
    t.sh("mkdir /tmp/x; echo rc=$?");
    let out = t.run().check();
    assert!(out.stdout.contains("rc=1"), "{out}");
}

/// runtime-spec: when the action takes no errno, a `defaultErrnoRet` makes
/// the runtime "print an error and fail". runc 1.1.5 silently ignores it.
#[test]
fn seccomp_default_errno_ret_on_allow_rejected() {
    let Some(mut t) = common::setup("seccomp_default_errno_ret_on_allow_rejected") else {
        return;
    };
    let mut p = profile(json!([
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}
    ]));
    p["defaultErrnoRet"] = json!(38);
    t.config["linux"]["seccomp"] = p;
    t.sh("echo RAN");
    let out = t.run();
    assert!(!out.ok(), "{out}");
    assert!(!out.stdout.contains("RAN"), "{out}");
    assert!(out.stderr.contains("errno"), "unclear error: {out}");
}
