//! The container process as configured: pid 1, hostname, identity, umask,
//! cwd, environment. Every check runs inside the container.

mod common;

use serde_json::json;

#[test]
fn pid_one() {
    let Some(mut t) = common::setup("pid_one") else {
        return;
    };
    t.sh("echo $$");
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "1", "{out}");
}

#[test]
fn hostname_from_config() {
    let Some(mut t) = common::setup("hostname_from_config") else {
        return;
    };
    t.config["hostname"] = json!("itest-host");
    t.set_args(&["hostname"]);
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "itest-host", "{out}");
}

#[test]
fn user_group_and_additional_gids() {
    let Some(mut t) = common::setup("user_group_and_additional_gids") else {
        return;
    };
    t.config["process"]["user"] = json!({
        "uid": 65534, "gid": 65534, "additionalGids": [10, 20]
    });
    t.sh("id -u; id -g; id -G");
    let out = t.run().check();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some("65534"), "{out}");
    assert_eq!(lines.get(1).copied(), Some("65534"), "{out}");
    let mut groups: Vec<&str> = lines.get(2).unwrap_or(&"").split_whitespace().collect();
    groups.sort_unstable();
    assert_eq!(groups, ["10", "20", "65534"], "{out}");
}

#[test]
fn umask_from_config() {
    let Some(mut t) = common::setup("umask_from_config") else {
        return;
    };
    // 0o27 = 23.
    t.config["process"]["user"]["umask"] = json!(23);
    t.sh("umask");
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "0027", "{out}");
}

#[test]
fn cwd_from_config() {
    let Some(mut t) = common::setup("cwd_from_config") else {
        return;
    };
    t.config["process"]["cwd"] = json!("/tmp");
    t.sh("pwd");
    let out = t.run().check();
    assert_eq!(out.stdout.trim(), "/tmp", "{out}");
}

#[test]
fn env_from_config() {
    let Some(mut t) = common::setup("env_from_config") else {
        return;
    };
    t.config["process"]["env"] = json!([
        "PATH=/bin",
        "ITEST_A=alpha",
        "ITEST_B=with spaces=and equals"
    ]);
    t.sh("echo \"$ITEST_A|$ITEST_B|$PATH\"");
    let out = t.run().check();
    assert_eq!(
        out.stdout.trim(),
        "alpha|with spaces=and equals|/bin",
        "{out}"
    );
}
