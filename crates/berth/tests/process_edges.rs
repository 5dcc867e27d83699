//! Process and filesystem edge cases: missing programs, PATH lookup, a
//! missing cwd, absent masked/readonly paths, masked directories, an
//! absolute root.path.

mod common;

use serde_json::json;

#[test]
fn missing_program_fails_at_create() {
    let Some(mut t) = common::setup("missing_program_fails_at_create") else {
        return;
    };
    t.set_args(&["itest-no-such-program"]);
    let out = t.create();
    assert!(!out.ok(), "create of a missing program succeeded: {out}");
    assert!(out.stderr.contains("itest-no-such-program"), "{out}");
    assert!(!t.rt(&["state", &t.id]).ok(), "container left: {out}");
}

#[test]
fn program_found_through_config_path() {
    let Some(mut t) = common::setup("program_found_through_config_path") else {
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let bin = t.rootfs.join("opt/itest/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(bin.join("itest-hello"), "#!/bin/sh\necho via-path\n").unwrap();
    std::fs::set_permissions(
        bin.join("itest-hello"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    t.config["process"]["env"] = json!(["PATH=/opt/itest/bin:/bin"]);
    t.set_args(&["itest-hello"]);
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "via-path", "{out}");
}

/// runc creates a missing process.cwd (inside the rootfs) before starting.
#[test]
fn missing_cwd_is_created() {
    let Some(mut t) = common::setup("missing_cwd_is_created") else {
        return;
    };
    t.config["process"]["cwd"] = json!("/itest/new/cwd");
    t.set_args(&["pwd"]);
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "/itest/new/cwd", "{out}");
}

#[test]
fn absent_masked_and_readonly_paths_ignored() {
    let Some(mut t) = common::setup("absent_masked_and_readonly_paths_ignored") else {
        return;
    };
    t.config["linux"]["maskedPaths"] = json!(["/proc/itest-nonexistent", "/itest/missing"]);
    t.config["linux"]["readonlyPaths"] = json!(["/proc/itest-ro-nonexistent", "/itest/ro-missing"]);
    t.sh("echo RAN; test -e /itest && echo created-itest; true");
    let out = t.run().check();
    assert!(out.stdout.contains("RAN"), "{out}");
    assert!(
        !out.stdout.contains("created-itest"),
        "masking created a path: {out}"
    );
}

#[test]
fn masked_directory_is_empty_and_read_only() {
    let Some(mut t) = common::setup("masked_directory_is_empty_and_read_only") else {
        return;
    };
    std::fs::create_dir_all(t.rootfs.join("secret")).unwrap();
    std::fs::write(t.rootfs.join("secret/key"), "hunter2").unwrap();
    t.config["linux"]["maskedPaths"] = json!(["/secret"]);
    t.sh("ls -A /secret | wc -l; if touch /secret/x 2>/dev/null; then echo rw; else echo ro; fi");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    assert_eq!(lines, ["0", "ro"], "{out}");
}

#[test]
fn absolute_root_path() {
    let Some(mut t) = common::setup("absolute_root_path") else {
        return;
    };
    t.config["root"]["path"] = json!(t.rootfs.display().to_string());
    t.sh("echo abs-root-ok");
    let out = t.run().check();
    assert!(out.stdout.contains("abs-root-ok"), "{out}");
}
