//! runc's command-line contract: logging, errors for missing or stopped
//! containers, option spellings, argv[0] dispatch, help, detached run.

mod common;

use common::runtime::{self, Call, RuntimeBin};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const T10: Duration = Duration::from_secs(10);

#[test]
fn log_json_records_failure() {
    let Some(t) = common::setup("log_json_records_failure") else {
        return;
    };
    let log = t.path("runtime.log");
    let log_s = log.display().to_string();
    let missing = format!("{}-missing", t.id);
    let out = t.rt(&["--log", &log_s, "--log-format", "json", "start", &missing]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(!out.stderr.trim().is_empty(), "no message on stderr: {out}");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let entries: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let err = entries
        .iter()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no error entry in log:\n{text}\n{out}"));
    let msg = err["msg"].as_str().unwrap_or_default();
    assert!(msg.contains("does not exist"), "log: {text}");
    // runc 1.1 logs "container does not exist" without the id.
    if RuntimeBin::get().is_berth() {
        assert!(
            msg.contains(&missing),
            "msg does not name the container: {text}"
        );
    }
    // Append, not truncate: a second failure adds a line.
    t.rt(&["--log", &log_s, "--log-format", "json", "start", &missing]);
    let again = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(again.lines().count() > text.lines().count(), "{again}");
    assert!(again.starts_with(&text), "log was rewritten:\n{again}");
}

#[test]
fn missing_container_errors() {
    let Some(t) = common::setup("missing_container_errors") else {
        return;
    };
    let missing = format!("{}-missing", t.id);
    let out = t.rt(&["state", &missing]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stderr.contains("does not exist"), "{out}");
    t.rt(&["delete", "--force", &missing]).check();
}

#[test]
fn kill_stopped_container_fails() {
    let Some(mut t) = common::setup("kill_stopped_container_fails") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    let out = t.rt(&["kill", &t.id, "KILL"]);
    assert!(!out.ok(), "kill of a stopped container succeeded: {out}");
    assert!(!out.stderr.trim().is_empty(), "{out}");
    t.rt(&["delete", &t.id]).check();
}

#[test]
fn single_dash_long_options() {
    let Some(mut t) = common::setup("single_dash_long_options") else {
        return;
    };
    t.sh("echo dash-ok");
    t.write_config_for(&t.id);
    let root = t.root.display().to_string();
    let bundle = t.bundle.display().to_string();
    let out = runtime::invoke_raw(
        &t.scratch,
        &["-root", &root, "run", "-bundle", &bundle, &t.id],
        Call::default(),
    )
    .check();
    assert!(out.stdout.contains("dash-ok"), "{out}");
    let out = t.rt(&["list", "-q"]).check();
    assert_eq!(out.stdout.trim(), "", "run left a container behind: {out}");
}

/// berth accepts global options after the verb too; runc 1.1 rejects
/// them there ("flag provided but not defined: -root").
#[test]
fn global_root_after_verb() {
    let Some(mut t) = common::setup("global_root_after_verb") else {
        return;
    };
    if !RuntimeBin::get().is_berth() {
        common::loud("SKIPPED: global_root_after_verb is a berth extension");
        return;
    }
    t.sh("echo after-ok");
    t.write_config_for(&t.id);
    let root = t.root.display().to_string();
    let bundle = t.bundle.display().to_string();
    let out = runtime::invoke_raw(
        &t.scratch,
        &["run", "--root", &root, "--bundle", &bundle, &t.id],
        Call::default(),
    )
    .check();
    assert!(out.stdout.contains("after-ok"), "{out}");
    let out = runtime::invoke_raw(
        &t.scratch,
        &["list", "--root", &root, "-q"],
        Call::default(),
    )
    .check();
    assert_eq!(out.stdout.trim(), "", "{out}");
}

#[test]
fn systemd_cgroup_without_systemd_fails() {
    let Some(mut t) = common::setup("systemd_cgroup_without_systemd_fails") else {
        return;
    };
    if std::path::Path::new("/run/systemd/system").exists() {
        common::loud("SKIPPED: systemd_cgroup_without_systemd_fails: host runs systemd");
        return;
    }
    t.config["linux"]["cgroupsPath"] = json!(format!("system.slice:itest:{}", t.id));
    t.sh("echo RAN");
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let out = t.rt(&["--systemd-cgroup", "run", "--bundle", &bundle, &t.id]);
    assert!(!out.ok(), "{out}");
    assert!(!out.stdout.contains("RAN"), "{out}");
    assert!(out.stderr.contains("systemd"), "unclear error: {out}");
}

#[test]
fn berth_runtime_argv0_dispatch() {
    let Some(t) = common::setup("berth_runtime_argv0_dispatch") else {
        return;
    };
    // Only when testing this crate's own binary (`berth runtime ...`).
    if RuntimeBin::get().prefix.is_empty() {
        common::loud("SKIPPED: berth_runtime_argv0_dispatch is about the berth binary");
        return;
    }
    let link = t.path("berth-runtime");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), &link).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(&link)
            .args(args)
            .output()
            .expect("run berth-runtime");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["--version"]);
    assert_eq!(code, Some(0), "{out}{err}");
    // runc prints "runc version X" plus commit and spec lines; berth
    // prints "berth X".
    assert!(!out.trim().is_empty(), "{out}{err}");
    let root = t.root.display().to_string();
    let (code, out, err) = run(&["--root", &root, "list"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("ID"), "{out}{err}");
}

#[test]
fn help_of_every_verb() {
    let Some(t) = common::setup("help_of_every_verb") else {
        return;
    };
    for verb in [
        "create", "start", "run", "exec", "kill", "delete", "state", "list", "ps", "pause",
        "resume", "update", "events", "features", "spec",
    ] {
        let out = t.rt(&[verb, "--help"]);
        assert_eq!(out.code, Some(0), "{verb} --help: {out}");
        assert!(
            !out.stdout.trim().is_empty(),
            "{verb} --help printed nothing: {out}"
        );
    }
}

#[test]
fn events_stats_has_cpu_memory_pids() {
    let Some(mut t) = common::setup("events_stats_has_cpu_memory_pids") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let out = t.rt(&["events", "--stats", &t.id]).check();
    let v: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    for key in ["cpu", "memory", "pids"] {
        assert!(v["data"][key].is_object(), "no data.{key}: {out}");
    }
    assert!(v["data"]["cpu"]["usage"].is_object(), "{out}");
    assert!(v["data"]["memory"]["usage"].is_object(), "{out}");
}

#[test]
fn run_detached_keeps_running() {
    let Some(mut t) = common::setup("run_detached_keeps_running") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let started = Instant::now();
    t.rt(&["run", "-d", "--bundle", &bundle, &t.id]).check();
    assert!(started.elapsed() < Duration::from_secs(20), "run -d waited");
    let st = t.state();
    assert_eq!(st.status, "running", "{:?}", st.raw);
    assert!(common::host::pid_alive(st.pid));
    t.rt(&["kill", &t.id, "KILL"]).check();
    t.wait_status(&t.id, "stopped", T10);
    t.rt(&["delete", &t.id]).check();
    assert!(!t.rt(&["state", &t.id]).ok());
}

#[test]
fn list_quiet_prints_ids() {
    let Some(mut t) = common::setup("list_quiet_prints_ids") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let second = t.new_id();
    t.create_id(&second).check();
    let out = t.rt(&["list", "-q"]).check();
    let mut ids: Vec<&str> = out.stdout.lines().collect();
    ids.sort();
    let mut want = vec![t.id.as_str(), second.as_str()];
    want.sort();
    assert_eq!(ids, want, "{out}");
}

#[test]
fn delete_created_container_without_force() {
    let Some(mut t) = common::setup("delete_created_container_without_force") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let st = t.state();
    assert_eq!(st.status, "created", "{:?}", st.raw);
    assert!(
        st.pid > 0 && common::host::pid_alive(st.pid),
        "{:?}",
        st.raw
    );
    t.rt(&["delete", &t.id]).check();
    assert!(
        common::host::wait_until(T10, || !common::host::pid_alive(st.pid)),
        "init {} survived delete",
        st.pid
    );
    assert!(!t.rt(&["state", &t.id]).ok());
}

#[test]
fn kill_default_signal_is_term() {
    let Some(mut t) = common::setup("kill_default_signal_is_term") else {
        return;
    };
    let out_dir = t.share("/out");
    // pid 1 ignores signals it has no handler for: trap TERM explicitly.
    t.sh("trap 'echo term > /out/sig; exit 0' TERM; echo ready > /out/ready; while :; do sleep 0.1; done");
    t.start_detached();
    assert!(common::host::wait_until(T10, || out_dir
        .join("ready")
        .exists()));
    t.rt(&["kill", &t.id]).check();
    t.wait_status(&t.id, "stopped", T10);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("sig"))
            .unwrap_or_default()
            .trim(),
        "term"
    );
}

/// The OCI state carries the config's annotations, and `created` and the
/// bundle path as runc prints them.
#[test]
fn state_has_annotations_and_created() {
    let Some(mut t) = common::setup("state_has_annotations_and_created") else {
        return;
    };
    t.config["annotations"] = json!({"org.itest.key": "itest-value"});
    t.set_args(&["sleep", "1000"]);
    t.create().check();
    let st = t.state();
    assert_eq!(
        st.raw["annotations"]["org.itest.key"], "itest-value",
        "{:?}",
        st.raw
    );
    assert!(
        st.raw["created"].as_str().is_some_and(|c| c.contains('T')),
        "{:?}",
        st.raw
    );
    assert_eq!(
        std::path::Path::new(&st.bundle).canonicalize().unwrap(),
        t.bundle.canonicalize().unwrap()
    );
}

#[test]
fn invalid_config_json_fails_clearly() {
    let Some(t) = common::setup("invalid_config_json_fails_clearly") else {
        return;
    };
    std::fs::write(t.bundle.join("config.json"), "{ not json").unwrap();
    let bundle = t.bundle.display().to_string();
    let out = t.rt(&["create", "--bundle", &bundle, &t.id]);
    assert!(!out.ok(), "{out}");
    assert!(!out.stderr.trim().is_empty(), "{out}");
    // runc 1.1 prints only the JSON decoder's message.
    if RuntimeBin::get().is_berth() {
        assert!(out.stderr.contains("config"), "{out}");
    }
    assert!(!t.rt(&["state", &t.id]).ok());
}

/// runc's `events` streams {"type":"oom"} when the cgroup OOM-kills.
#[test]
fn events_reports_oom() {
    let Some(mut t) = common::setup("events_reports_oom") else {
        return;
    };
    t.config["linux"]["resources"]["memory"] = json!({"limit": 16u64 << 20, "swap": 16u64 << 20});
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let rt = RuntimeBin::get();
    let ev_path = t.path("events.out");
    let ev_err = t.path("events.err");
    let mut ev = std::process::Command::new(&rt.bin)
        .args(&rt.prefix)
        .arg("--root")
        .arg(&t.root)
        .args(["events", "--interval", "1s", &t.id])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&ev_path).unwrap())
        .stderr(std::fs::File::create(&ev_err).unwrap())
        .spawn()
        .expect("events");
    std::thread::sleep(Duration::from_millis(500));
    let out = t.exec(
        &[],
        &["sh", "-c", "head -c 200m /dev/zero | tail -n 1 >/dev/null"],
    );
    let saw_oom = common::host::wait_until(T10, || {
        runtime::read_lossy(&ev_path)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["type"] == "oom")
    });
    let _ = ev.kill();
    let _ = ev.wait();
    let types: Vec<String> = runtime::read_lossy(&ev_path)
        .lines()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v) => v["type"].to_string(),
            Err(_) => format!("not JSON: {l}"),
        })
        .collect();
    let err = runtime::read_lossy(&ev_err);
    assert!(
        saw_oom,
        "no oom event; exec: {out}\nevent types: {types:?}\nevents stderr:\n{err}"
    );
}

/// A relative --bundle resolves against the caller's cwd and the state
/// records it absolute; without --bundle the bundle is the cwd.
#[test]
fn relative_and_default_bundle() {
    let Some(mut t) = common::setup("relative_and_default_bundle") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let top = t.dir.path().to_path_buf();
    t.rt_with(
        &["create", "--bundle", "bundle", &t.id],
        Call {
            cwd: Some(&top),
            ..Default::default()
        },
    )
    .check();
    let st = t.state();
    assert!(
        std::path::Path::new(&st.bundle).is_absolute(),
        "{:?}",
        st.raw
    );
    assert_eq!(
        std::path::Path::new(&st.bundle).canonicalize().unwrap(),
        t.bundle.canonicalize().unwrap()
    );

    let second = t.new_id();
    t.write_config_for(&second);
    let bundle = t.bundle.clone();
    t.rt_with(
        &["create", &second],
        Call {
            cwd: Some(&bundle),
            ..Default::default()
        },
    )
    .check();
    let st2 = t.state_of(&second);
    assert_eq!(
        std::path::Path::new(&st2.bundle).canonicalize().unwrap(),
        t.bundle.canonicalize().unwrap()
    );
}

/// runc makes --pid-file absolute against the caller's cwd.
#[test]
fn relative_pid_file() {
    let Some(mut t) = common::setup("relative_pid_file") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let top = t.dir.path().to_path_buf();
    let bundle = t.bundle.display().to_string();
    t.rt_with(
        &[
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            "rel.pid",
            &t.id,
        ],
        Call {
            cwd: Some(&top),
            ..Default::default()
        },
    )
    .check();
    let st = t.state();
    let pid = std::fs::read_to_string(top.join("rel.pid")).unwrap_or_default();
    assert_eq!(
        pid.trim(),
        st.pid.to_string(),
        "in the bundle instead: {}",
        t.bundle.join("rel.pid").exists()
    );
}

#[test]
fn spec_rootless_has_user_namespace() {
    let Some(t) = common::setup("spec_rootless_has_user_namespace") else {
        return;
    };
    let dir = t.path("rootless-spec");
    std::fs::create_dir(&dir).unwrap();
    t.rt_with(
        &["spec", "--rootless"],
        Call {
            cwd: Some(&dir),
            ..Default::default()
        },
    )
    .check();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let ns = v["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"), "{v}");
    assert!(!ns.iter().any(|n| n["type"] == "network"), "{v}");
    assert_eq!(v["linux"]["uidMappings"][0]["containerID"], 0, "{v}");
    assert_eq!(v["linux"]["uidMappings"][0]["size"], 1, "{v}");
}
