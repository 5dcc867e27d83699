//! berth refuses configs the host cannot grant, naming what is missing,
//! instead of failing obscurely inside init. These are berth's design, not
//! runc's contract: with another runtime they skip with a note.

mod common;

use common::host;
use common::runtime::RuntimeBin;
use serde_json::json;

fn berth_only(test: &str) -> bool {
    if RuntimeBin::get().is_berth() {
        return true;
    }
    common::loud(&format!(
        "NOTE: {test} checks berth-specific behaviour; skipped for a non-berth runtime"
    ));
    false
}

#[test]
fn unavailable_capability_is_named() {
    let Some(mut t) = common::setup("unavailable_capability_is_named") else {
        return;
    };
    if !berth_only("unavailable_capability_is_named") {
        return;
    }
    if host::self_cap_bnd() & (1 << host::cap_bit("CAP_SYS_RESOURCE")) != 0 {
        common::loud("NOTE: host bounding set has CAP_SYS_RESOURCE; nothing to refuse");
        return;
    }
    let caps = ["CAP_KILL", "CAP_SYS_RESOURCE"];
    for set in ["bounding", "effective", "permitted"] {
        t.config["process"]["capabilities"][set] = json!(caps);
    }
    t.set_args(&["true"]);
    let out = t.run();
    assert!(!out.ok(), "ran with a capability the host lacks: {out}");
    assert!(out.stderr.contains("CAP_SYS_RESOURCE"), "{out}");
}

#[test]
fn excessive_nofile_rlimit_is_named() {
    let Some(mut t) = common::setup("excessive_nofile_rlimit_is_named") else {
        return;
    };
    if !berth_only("excessive_nofile_rlimit_is_named") {
        return;
    }
    const WANT: u64 = 1 << 20;
    let can_raise = host::self_cap_eff() & (1 << host::cap_bit("CAP_SYS_RESOURCE")) != 0;
    if host::hard_nofile() >= WANT || can_raise {
        common::loud(&format!(
            "NOTE: host can grant RLIMIT_NOFILE {WANT}; nothing to refuse"
        ));
        return;
    }
    t.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": WANT, "soft": 1024}]);
    t.set_args(&["true"]);
    let out = t.run();
    assert!(
        !out.ok(),
        "ran with an rlimit above the host hard limit: {out}"
    );
    assert!(out.stderr.contains("RLIMIT_NOFILE"), "{out}");
}
