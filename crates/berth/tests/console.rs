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
