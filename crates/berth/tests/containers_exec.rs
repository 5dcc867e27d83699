//! `exec` and the interactive paths: piped stdin, a real pty (through util-linux
//! `script`), `attach` and the ctrl-p ctrl-q detach.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use common::engine::{show, text, Engine, BERTH, T30};
use common::host;

#[test]
fn exec_output_status_and_options() {
    let Some(e) = Engine::new("exec") else { return };
    e.run_d(&["--name", "x", "busybox", "sleep", "300"]);
    assert_eq!(e.ok(&["exec", "x", "echo", "in"]), "in\n");
    let o = e.berth(&["exec", "x", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", show(&o));
    e.fails(&["exec", "x", "no-such-cmd"], 127);

    let out = e.ok(&[
        "exec",
        "-e",
        "V=w",
        "-w",
        "/etc",
        "-u",
        "1000:1001",
        "x",
        "sh",
        "-c",
        "echo $V; pwd; id -u; id -g",
    ]);
    assert_eq!(out, "w\n/etc\n1000\n1001\n");

    // -d returns at once; the process it started leaves a mark.
    let out = e.ok(&["exec", "-d", "x", "sh", "-c", "echo done > /tmp/mark"]);
    assert_eq!(out, "");
    let ok = host::wait_until(T30, || {
        e.berth(&["exec", "x", "cat", "/tmp/mark"]).stdout == b"done\n"
    });
    assert!(ok, "exec -d never ran");

    // -d -t: the process gets a terminal, and someone keeps reading it, so it can
    // write far more than a terminal buffers and still finish.
    let out = e.ok(&[
        "exec",
        "-d",
        "-t",
        "x",
        "sh",
        "-c",
        "tty > /tmp/tty; i=0; while [ $i -lt 3000 ]; do echo line $i of what nobody reads; \
         i=$((i+1)); done; echo yes > /tmp/finished",
    ]);
    assert_eq!(out, "");
    let ok = host::wait_until(T30, || {
        e.berth(&["exec", "x", "cat", "/tmp/finished"]).stdout == b"yes\n"
    });
    assert!(ok, "exec -d -t blocked on its terminal");
    let tty = e.ok(&["exec", "x", "cat", "/tmp/tty"]);
    assert!(tty.starts_with("/dev/pts/"), "{tty}");

    let o = e.berth_stdin(&["exec", "-i", "x", "cat"], b"piped\n");
    assert_eq!(text(&o.stdout), "piped\n", "{}", show(&o));
    // Without -i the process gets no stdin.
    let o = e.berth_stdin(&["exec", "x", "cat"], b"lost\n");
    assert_eq!(text(&o.stdout), "", "{}", show(&o));

    e.ok(&["stop", "-t", "1", "x"]);
    let err = e.fails(&["exec", "x", "true"], 125);
    assert!(err.contains("not running"), "{err}");
    e.fails(&["exec", "nope", "true"], 125);
}

#[test]
fn run_interactive_with_piped_stdin() {
    let Some(e) = Engine::new("run_i") else {
        return;
    };
    let o = e.berth_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"one\ntwo\n");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(text(&o.stdout), "one\ntwo\n");
    let o = e.berth_stdin(
        &["run", "-i", "--rm", "busybox", "wc", "-c"],
        &[b'z'; 100_000],
    );
    assert_eq!(text(&o.stdout).trim(), "100000", "{}", show(&o));
}

/// `berth ARGS` inside a pty made by `script`; stdin stays a pipe the test writes.
fn in_pty(e: &Engine, args: &[&str]) -> std::process::Child {
    let mut line = format!(
        "{BERTH} --root {} --runroot {}",
        e.root.path().display(),
        e.runroot.display()
    );
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)")
}

fn wait_child(c: &mut std::process::Child) -> std::process::ExitStatus {
    let ok = host::wait_until(T30, || matches!(c.try_wait(), Ok(Some(_))));
    if !ok {
        let _ = c.kill();
        panic!("the command in the pty did not end");
    }
    c.wait().unwrap()
}

#[test]
fn run_tty_in_a_real_pty() {
    let Some(e) = Engine::new("run_it") else {
        return;
    };
    let mut c = in_pty(
        &e,
        &[
            "run",
            "-it",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "tty; [ -t 0 ] && echo TTY; exit 4",
        ],
    );
    let st = wait_child(&mut c);
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("TTY"), "{out:?}");
    assert_eq!(st.code(), Some(4), "{out:?}");

    // exec gets a terminal of its own, with and without -i.
    e.run_d(&["--name", "bg", "busybox", "sleep", "300"]);
    for flags in ["-t", "-it"] {
        let mut c = in_pty(
            &e,
            &["exec", flags, "bg", "sh", "-c", "[ -t 1 ] && tty; exit 3"],
        );
        let st = wait_child(&mut c);
        let mut out = String::new();
        c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(out.contains("/dev/pts/"), "exec {flags}: {out:?}");
        assert_eq!(st.code(), Some(3), "exec {flags}: {out:?}");
    }
}

#[test]
fn attach_and_detach_with_ctrl_p_ctrl_q() {
    let Some(e) = Engine::new("attach") else {
        return;
    };
    e.run_d(&["-it", "--name", "a", "busybox", "sh"]);
    let mut c = in_pty(&e, &["attach", "a"]);
    let mut stdin = c.stdin.take().unwrap();
    stdin
        .write_all(b"echo attached-$((6*7)) > /tmp/att\n")
        .unwrap();
    let ok = host::wait_until(T30, || {
        e.berth(&["exec", "a", "cat", "/tmp/att"]).stdout == b"attached-42\n"
    });
    if !ok {
        let _ = c.kill();
        panic!("input through attach never reached the shell");
    }
    stdin.write_all(&[0x10, 0x11]).unwrap();
    let st = wait_child(&mut c);
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(st.success(), "{st}: {out:?}");
    assert!(out.contains("read escape sequence"), "{out:?}");
    assert_eq!(
        e.status("a"),
        "running",
        "detaching must not stop the container"
    );
}
