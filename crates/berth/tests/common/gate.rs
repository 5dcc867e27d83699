//! Root gate: these tests create namespaces, cgroups and mounts.

use super::testctx::TestCtx;

fn is_root() -> bool {
    // /proc/self/status avoids an unsafe geteuid() call; the Uid line is
    // "Uid: real effective saved fs".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Returns a fresh test context, or `None` when the test must be skipped
/// because we are not root. In CI (`CI=true`) a missing root is a failure:
/// a silently skipped suite would look green while testing nothing.
pub fn setup(test: &str) -> Option<TestCtx> {
    root_gate(test).then(|| TestCtx::new(test))
}

/// The same decision as `setup` without building a bundle: true when the test
/// may run.
pub fn root_gate(test: &str) -> bool {
    if !is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test} needs root, and CI=true forbids skipping");
        }
        loud(&format!("SKIPPED: {test} needs root"));
        return false;
    }
    true
}

/// Writes straight to the stderr fd: libtest captures `eprintln!` of
/// passing tests, and a skip or a caveat must be seen.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}
