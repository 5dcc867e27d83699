//! Command-line contract: ps, list, features, spec, argument order.

mod common;

use common::runtime::Call;
use serde_json::Value;

#[test]
fn ps_format_json() {
    let Some(mut t) = common::setup("ps_format_json") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    let st = t.start_detached();
    let out = t.rt(&["ps", "--format", "json", &t.id]).check();
    let pids: Vec<i64> = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not a JSON pid array ({e}): {out}"));
    assert_eq!(pids, vec![st.pid], "{out}");
}

#[test]
fn list_text_and_json() {
    let Some(mut t) = common::setup("list_text_and_json") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    let st = t.start_detached();

    let out = t.rt(&["list"]).check();
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{out}"
    );
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(&t.id))
        .unwrap_or_else(|| panic!("{} not listed: {out}", t.id))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], st.pid.to_string(), "{out}");
    assert_eq!(row[2], "running", "{out}");

    let out = t.rt(&["list", "--format", "json"]).check();
    let v: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("list json ({e}): {out}"));
    let arr = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {out}"));
    assert_eq!(arr.len(), 1, "{out}");
    assert_eq!(arr[0]["id"], t.id.as_str());
    assert_eq!(arr[0]["pid"], st.pid);
    assert_eq!(arr[0]["status"], "running");
    assert!(arr[0]["bundle"].is_string());
}

#[test]
fn features_json() {
    let Some(t) = common::setup("features_json") else {
        return;
    };
    let out = t.rt(&["features"]).check();
    let v: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("features json ({e}): {out}"));
    assert!(v["ociVersionMin"].is_string(), "{out}");
    assert!(v["ociVersionMax"].is_string(), "{out}");
    let hooks: Vec<&str> = v["hooks"]
        .as_array()
        .unwrap_or_else(|| panic!("no hooks: {out}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for h in ["prestart", "createRuntime", "poststop"] {
        assert!(hooks.contains(&h), "hook {h} missing: {out}");
    }
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no linux.namespaces: {out}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for n in ["pid", "mount", "user", "network", "ipc", "uts"] {
        assert!(ns.contains(&n), "namespace {n} missing: {out}");
    }
    assert!(v["mountOptions"].is_array(), "{out}");
}

#[test]
fn spec_writes_and_refuses_overwrite() {
    let Some(t) = common::setup("spec_writes_and_refuses_overwrite") else {
        return;
    };
    let dir = t.path("specdir");
    std::fs::create_dir(&dir).unwrap();
    let here = Call {
        cwd: Some(&dir),
        ..Default::default()
    };
    t.rt_with(&["spec"], here).check();
    let cfg = dir.join("config.json");
    let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert!(v["ociVersion"].is_string());
    assert!(v["process"]["args"].is_array());
    assert_eq!(v["root"]["path"], "rootfs");

    std::fs::write(&cfg, "sentinel").unwrap();
    let out = t.rt_with(
        &["spec"],
        Call {
            cwd: Some(&dir),
            ..Default::default()
        },
    );
    assert!(!out.ok(), "spec overwrote an existing config.json: {out}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "sentinel");
}

#[test]
fn options_after_id_accepted() {
    let Some(mut t) = common::setup("options_after_id_accepted") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    t.rt(&["create", &t.id, "--bundle", &bundle]).check();
    let st = t.state();
    assert_eq!(st.status, "created");
    t.rt(&["delete", &t.id, "--force"]).check();
}
