//! `--console-socket`: the runtime hands the pty master to the caller.

mod common;

use common::console;
use serde_json::json;
use std::time::Duration;

#[test]
fn console_socket_receives_pty_master() {
    let Some(mut t) = common::setup("console_socket_receives_pty_master") else {
        return;
    };
    t.config["process"]["terminal"] = json!(true);
    t.sh("tty; echo console-ok-$((6*7)); sleep 1");
    let sock = t.path("console.sock");
    let receiver = console::receive_console(&sock);

    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let s = sock.display().to_string();
    t.rt(&["create", "--bundle", &bundle, "--console-socket", &s, &t.id])
        .check();
    let master = receiver
        .join()
        .expect("console thread")
        .expect("pty master via SCM_RIGHTS");
    t.start().check();

    // The arithmetic makes the needle appear only in output, not in an echo
    // of the command line.
    let text = console::read_until(master, "console-ok-42", Duration::from_secs(10));
    assert!(text.contains("console-ok-42"), "console output: {text:?}");
    let tty = text.lines().next().unwrap_or_default().trim();
    assert!(
        tty.starts_with("/dev/pts/") || tty == "/dev/console",
        "tty says {tty:?}; output {text:?}"
    );
}

/// Foreground `run` with a terminal and no console socket: the runtime
/// makes the pty itself and relays it to its own terminal, which here is
/// the pty of util-linux `script`.
#[test]
fn foreground_run_terminal_without_socket() {
    let Some(mut t) = common::setup("foreground_run_terminal_without_socket") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/script").exists() {
        common::loud("SKIPPED: foreground_run_terminal_without_socket needs util-linux script");
        return;
    }
    t.config["process"]["terminal"] = json!(true);
    t.sh("tty; echo fg-ok-$((6*7)); exit 7");
    t.write_config_for(&t.id);
    let rt = common::runtime::RuntimeBin::get();
    let mut cmd = vec![rt.bin.display().to_string()];
    cmd.extend(rt.prefix.iter().cloned());
    cmd.extend([
        "--root".into(),
        t.root.display().to_string(),
        "run".into(),
        "--bundle".into(),
        t.bundle.display().to_string(),
        t.id.clone(),
    ]);
    let out_path = t.path("script.out");
    let err_path = t.path("script.err");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("script");
    let ok = common::host::wait_until(Duration::from_secs(30), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !ok {
        let _ = child.kill();
    }
    let st = child.wait().unwrap();
    let text = common::runtime::read_lossy(&out_path);
    let err = common::runtime::read_lossy(&err_path);
    assert!(ok, "script never finished: {text:?} {err:?}");
    assert!(text.contains("fg-ok-42"), "output {text:?} {err:?}");
    // script may echo a control character (^@) ahead of the output.
    let tty = text
        .lines()
        .find_map(|l| l.find("/dev/").map(|i| l[i..].trim()))
        .unwrap_or_default();
    assert!(tty.starts_with("/dev/pts/"), "tty says {tty:?}: {text:?}");
    assert_eq!(st.code(), Some(7), "exit code lost: {text:?} {err:?}");
}

#[test]
fn exec_tty_console_socket_receives_master() {
    let Some(mut t) = common::setup("exec_tty_console_socket_receives_master") else {
        return;
    };
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let sock = t.path("exec-console.sock");
    let receiver = console::receive_console(&sock);
    let s = sock.display().to_string();
    let out = t.exec(
        &["-t", "-d", "--console-socket", &s],
        &["sh", "-c", "tty; echo exec-tty-$((6*7)); sleep 1"],
    );
    assert!(out.ok(), "{out}");
    let master = receiver
        .join()
        .expect("console thread")
        .expect("pty master via SCM_RIGHTS");
    let text = console::read_until(master, "exec-tty-42", Duration::from_secs(10));
    assert!(text.contains("exec-tty-42"), "console output: {text:?}");
    let tty = text.lines().next().unwrap_or_default().trim();
    assert!(tty.starts_with("/dev/pts/"), "tty says {tty:?}: {text:?}");
}

#[test]
fn detached_terminal_needs_console_socket() {
    let Some(mut t) = common::setup("detached_terminal_needs_console_socket") else {
        return;
    };
    t.config["process"]["terminal"] = json!(true);
    t.set_args(&["sleep", "1000"]);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let out = t.rt(&["run", "-d", "--bundle", &bundle, &t.id]);
    assert!(!out.ok(), "{out}");
    assert!(out.stderr.contains("console"), "unclear error: {out}");
    assert!(!t.rt(&["state", &t.id]).ok(), "a container was left: {out}");
}

/// Receives the console of a created-and-started container running `script`
/// as `user`, and reads until `needle`.
fn console_output(t: &mut common::TestCtx, script: &str, needle: &str) -> String {
    t.config["process"]["terminal"] = json!(true);
    t.sh(script);
    let sock = t.path("console.sock");
    let receiver = console::receive_console(&sock);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let s = sock.display().to_string();
    t.rt(&["create", "--bundle", &bundle, "--console-socket", &s, &t.id])
        .check();
    let master = receiver.join().expect("thread").expect("pty master");
    t.start().check();
    console::read_until(master, needle, Duration::from_secs(10))
}

#[test]
fn console_size_applied() {
    let Some(mut t) = common::setup("console_size_applied") else {
        return;
    };
    t.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    let text = console_output(&mut t, "echo size=$(stty size)=; sleep 1", "=\r");
    assert!(
        text.contains("size=33 111="),
        "consoleSize not applied: {text:?}"
    );
}

/// runc gives the pty slave to the process user (uid 1000 here), so a
/// non-root process owns its terminal.
#[test]
fn console_owned_by_process_user() {
    let Some(mut t) = common::setup("console_owned_by_process_user") else {
        return;
    };
    t.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let text = console_output(&mut t, "echo owner=$(stat -c %u $(tty))=; sleep 1", "=\r");
    assert!(
        text.contains("owner=1000="),
        "slave not owned by the user: {text:?}"
    );
}

#[test]
fn exec_tty_foreground_under_pty() {
    let Some(mut t) = common::setup("exec_tty_foreground_under_pty") else {
        return;
    };
    if !std::path::Path::new("/usr/bin/script").exists() {
        common::loud("SKIPPED: exec_tty_foreground_under_pty needs util-linux script");
        return;
    }
    t.set_args(&["sleep", "1000"]);
    t.start_detached();
    let rt = common::runtime::RuntimeBin::get();
    let mut cmd = vec![rt.bin.display().to_string()];
    cmd.extend(rt.prefix.iter().cloned());
    cmd.extend([
        "--root".into(),
        t.root.display().to_string(),
        "exec".into(),
        "-t".into(),
        t.id.clone(),
        "sh".into(),
        "-c".into(),
        "'tty; echo ex-ok-$((6*7)); exit 5'".into(),
    ]);
    let out_path = t.path("script-exec.out");
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script");
    let ok = common::host::wait_until(Duration::from_secs(30), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !ok {
        let _ = child.kill();
    }
    let st = child.wait().unwrap();
    let text = common::runtime::read_lossy(&out_path);
    assert!(ok, "script never finished: {text:?}");
    assert!(text.contains("ex-ok-42"), "{text:?}");
    let tty = text
        .lines()
        .find_map(|l| l.find("/dev/").map(|i| l[i..].trim()))
        .unwrap_or_default();
    assert!(tty.starts_with("/dev/pts/"), "tty says {tty:?}: {text:?}");
    assert_eq!(st.code(), Some(5), "{text:?}");
}

/// runc 1.1 resolves a relative --console-socket against the bundle (it
/// enters the bundle before connecting), not the caller's cwd.
#[test]
fn relative_console_socket() {
    let Some(mut t) = common::setup("relative_console_socket") else {
        return;
    };
    t.config["process"]["terminal"] = json!(true);
    t.sh("echo rel-sock-$((6*7)); sleep 1");
    let sock = t.bundle.join("rel.sock");
    let receiver = console::receive_console(&sock);
    t.write_config_for(&t.id);
    let bundle = t.bundle.display().to_string();
    let top = t.dir.path().to_path_buf();
    let out = t.rt_with(
        &[
            "create",
            "--bundle",
            &bundle,
            "--console-socket",
            "rel.sock",
            &t.id,
        ],
        common::runtime::Call {
            cwd: Some(&top),
            ..Default::default()
        },
    );
    assert!(out.ok(), "{out}");
    let master = receiver.join().expect("thread").expect("pty master");
    t.start().check();
    let text = console::read_until(master, "rel-sock-42", Duration::from_secs(10));
    assert!(text.contains("rel-sock-42"), "{text:?}");
}
