//! The per-container monitor (`berth-monitor`) driving real containers through
//! `berth runtime`: logs, exit codes, attach, tty, restarts, healthchecks.

mod common;

use berth_monitor::client::AttachClient;
use berth_monitor::config::{
    HealthConfig, LogConfig, LogDriver, MonitorConfig, OnFailure, RestartName, RestartPolicy,
};
use berth_monitor::launch::{self, Event, Launcher};
use berth_monitor::protocol::{Frame, Hello};
use berth_monitor::state::{self, MonitorState};
use common::{host, TestCtx};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T20: Duration = Duration::from_secs(20);
const MONITOR: &str = env!("CARGO_BIN_EXE_berth-monitor");

/// One monitored container: its run dir and config file. Dropping it kills a
/// monitor the test left behind (the TestCtx then removes the container).
struct Mon {
    run_dir: PathBuf,
    cfg_path: PathBuf,
}

impl Mon {
    fn new(t: &TestCtx, edit: impl FnOnce(&mut MonitorConfig)) -> Mon {
        let run_dir = t.path(&format!("run-{}", t.id));
        std::fs::create_dir_all(&run_dir).unwrap();
        let rt = common::runtime::RuntimeBin::get();
        let mut runtime = vec![rt.bin.display().to_string()];
        runtime.extend(rt.prefix.iter().cloned());
        runtime.extend(["--root".to_string(), t.root.display().to_string()]);
        let mut cfg = MonitorConfig {
            id: t.id.clone(),
            runtime: runtime.clone(),
            bundle: t.bundle.clone(),
            run_dir: run_dir.clone(),
            tty: false,
            stdin: false,
            log: LogConfig {
                driver: LogDriver::JsonFile,
                path: run_dir.join("ctr.log"),
                max_size: 0,
                max_file: 1,
            },
            restart: RestartPolicy::default(),
            healthcheck: None,
            wait_for_attach: false,
            oom_file: None,
            // Like berth's own cleanup, this one deletes the runtime state: the
            // monitor leaves that to its cleanup command.
            cleanup: vec![
                "sh".into(),
                "-c".into(),
                format!(
                    "touch {}/cleaned; exec {} delete --force {}",
                    run_dir.display(),
                    runtime.join(" "),
                    t.id
                ),
            ],
            proxies: Vec::new(),
            holds: Vec::new(),
        };
        edit(&mut cfg);
        let cfg_path = run_dir.join("monitor.json");
        std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        t.write_config_for(&t.id);
        Mon { run_dir, cfg_path }
    }

    fn launch(&self) -> Launcher {
        let mut l = launch::launch(Path::new(MONITOR), &self.cfg_path).expect("launch monitor");
        assert_eq!(l.next_event().unwrap(), Event::Listening);
        l
    }

    fn state(&self) -> MonitorState {
        state::read(&self.run_dir).unwrap().expect("state.json")
    }

    #[track_caller]
    fn wait_state(&self, what: &str, f: impl Fn(&MonitorState) -> bool) -> MonitorState {
        let ok = host::wait_until(T20, || {
            state::read(&self.run_dir)
                .ok()
                .flatten()
                .is_some_and(|s| f(&s))
        });
        let st = state::read(&self.run_dir).ok().flatten();
        assert!(ok, "state never became {what}: {st:?}");
        st.unwrap()
    }

    fn monitor_pid(&self) -> Option<i64> {
        std::fs::read_to_string(self.run_dir.join("monitor.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Waits until the monitor has finished (it removes monitor.pid last).
    #[track_caller]
    fn wait_done(&self) -> MonitorState {
        let pid = self.monitor_pid();
        assert!(
            host::wait_until(T20, || !self.run_dir.join("monitor.pid").exists()),
            "monitor never finished: {:?}",
            state::read(&self.run_dir)
        );
        if let Some(p) = pid {
            assert!(host::wait_until(T20, || !host::pid_alive(p)));
        }
        assert!(
            !self.run_dir.join("attach.sock").exists(),
            "attach.sock left"
        );
        self.state()
    }

    fn log_entries(&self, name: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.run_dir.join(name))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn attach(&self, hello: Hello) -> AttachClient {
        let c = AttachClient::connect(&self.run_dir, hello).expect("attach");
        c.stream().set_read_timeout(Some(T20)).unwrap();
        c
    }

    fn touch_stopped(&self) {
        std::fs::write(self.run_dir.join("stopped"), b"").unwrap();
    }
}

impl Drop for Mon {
    fn drop(&mut self) {
        if let Some(pid) = self.monitor_pid() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "berth-monitor" {
                // SAFETY: signalling a pid we verified is our test's monitor.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// Output frames until the exit frame: (stdout, stderr, exit code).
fn collect(c: &mut AttachClient) -> (String, String, i32) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    loop {
        match c.recv().expect("recv frame") {
            Some(Frame::Stdout(b)) => out.extend(b),
            Some(Frame::Stderr(b)) => err.extend(b),
            Some(Frame::Exit(e)) => {
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    String::from_utf8_lossy(&err).into_owned(),
                    e.exit_code,
                )
            }
            Some(_) => {}
            None => panic!("monitor hung up without an exit frame"),
        }
    }
}

fn started(l: &mut Launcher) -> i32 {
    match l.next_event().unwrap() {
        Event::Started { pid } => pid,
        e => panic!("expected started, got {e:?}"),
    }
}

#[test]
fn output_goes_to_json_log() {
    let Some(mut t) = common::setup("output_goes_to_json_log") else {
        return;
    };
    t.sh("echo hi; echo err >&2; printf tail");
    let m = Mon::new(&t, |_| {});
    let mut l = m.launch();
    assert!(started(&mut l) > 0);
    let st = m.wait_done();
    assert_eq!((st.status.as_str(), st.exit_code), ("exited", Some(0)));
    assert!(m.run_dir.join("cleaned").exists(), "cleanup did not run");
    let entries = m.log_entries("ctr.log");
    let find = |text: &str| {
        entries
            .iter()
            .find(|e| e["log"] == text)
            .unwrap_or_else(|| panic!("no {text:?} in {entries:?}"))
    };
    assert_eq!(find("hi\n")["stream"], "stdout");
    assert_eq!(find("err\n")["stream"], "stderr");
    assert_eq!(find("tail")["stream"], "stdout");
    let time = find("hi\n")["time"].as_str().unwrap().to_string();
    assert!(time.ends_with('Z') && time.len() == 30, "{time}");
}

#[test]
fn exit_code_recorded() {
    let Some(mut t) = common::setup("exit_code_recorded") else {
        return;
    };
    t.sh("exit 3");
    let m = Mon::new(&t, |c| c.log.driver = LogDriver::None);
    let mut l = m.launch();
    started(&mut l);
    let st = m.wait_done();
    assert_eq!(st.exit_code, Some(3), "{st:?}");
    assert_eq!(st.status, "exited");
    assert!(st.started_at.is_some() && st.finished_at.is_some());
    assert!(!m.run_dir.join("ctr.log").exists());
}

#[test]
fn attach_before_start_gets_everything() {
    let Some(mut t) = common::setup("attach_before_start_gets_everything") else {
        return;
    };
    t.sh("echo out; echo err >&2; exit 5");
    let m = Mon::new(&t, |c| c.wait_for_attach = true);
    let mut l = m.launch();
    let mut c = m.attach(Hello {
        stdin: false,
        stdout: true,
        stderr: true,
        wait: false,
        ..Default::default()
    });
    started(&mut l);
    let (out, err, code) = collect(&mut c);
    assert_eq!((out.as_str(), err.as_str(), code), ("out\n", "err\n", 5));
    assert_eq!(m.wait_done().exit_code, Some(5));
}

/// The client that offered to clean up gets an exit frame asking for it; once it
/// reports done, the monitor does not run its own cleanup command.
#[test]
fn a_client_can_take_over_the_cleanup() {
    let Some(mut t) = common::setup("a_client_can_take_over_the_cleanup") else {
        return;
    };
    t.sh("exit 6");
    let m = Mon::new(&t, |c| c.wait_for_attach = true);
    let mut l = m.launch();
    let mut c = m.attach(Hello {
        stdout: true,
        cleanup: true,
        ..Default::default()
    });
    started(&mut l);
    let info = loop {
        match c.recv().expect("recv") {
            Some(Frame::Exit(e)) => break e,
            Some(_) => {}
            None => panic!("no exit frame"),
        }
    };
    assert!(
        info.cleanup,
        "the exit frame should ask this client to clean up"
    );
    assert_eq!(info.exit_code, 6);
    // What berth's CLI does in-process: record, delete the runtime state.
    std::fs::write(m.run_dir.join("client-cleaned"), b"").unwrap();
    let st = t.rt(&["delete", "--force", &t.id]);
    assert!(st.ok(), "{st:?}");
    c.cleaned().unwrap();
    assert_eq!(m.wait_done().exit_code, Some(6));
    assert!(
        !m.run_dir.join("cleaned").exists(),
        "the monitor ran its cleanup too"
    );
}

/// A client that offered to clean up but went away leaves it to the monitor.
#[test]
fn cleanup_falls_back_to_the_monitor() {
    let Some(mut t) = common::setup("cleanup_falls_back_to_the_monitor") else {
        return;
    };
    t.sh("exit 0");
    let m = Mon::new(&t, |c| c.wait_for_attach = true);
    let mut l = m.launch();
    let mut c = m.attach(Hello {
        stdout: true,
        cleanup: true,
        ..Default::default()
    });
    started(&mut l);
    loop {
        match c.recv().expect("recv") {
            Some(Frame::Exit(e)) => {
                assert!(e.cleanup);
                break;
            }
            Some(_) => {}
            None => panic!("no exit frame"),
        }
    }
    drop(c);
    m.wait_done();
    assert!(m.run_dir.join("cleaned").exists(), "nobody cleaned up");
}

#[test]
fn stdin_through_attach() {
    let Some(mut t) = common::setup("stdin_through_attach") else {
        return;
    };
    t.set_args(&["cat"]);
    let m = Mon::new(&t, |c| {
        c.wait_for_attach = true;
        c.stdin = true;
    });
    let mut l = m.launch();
    let mut c = m.attach(Hello {
        stdin: true,
        stdout: true,
        stderr: true,
        wait: false,
        ..Default::default()
    });
    c.send_stdin(b"hello through stdin\n").unwrap();
    c.close_stdin().unwrap();
    started(&mut l);
    let (out, _, code) = collect(&mut c);
    assert_eq!((out.as_str(), code), ("hello through stdin\n", 0));
    m.wait_done();
}

#[test]
fn tty_output_through_pty() {
    let Some(mut t) = common::setup("tty_output_through_pty") else {
        return;
    };
    t.config["process"]["terminal"] = json!(true);
    t.sh("[ -t 1 ] && echo is-a-tty; stty size");
    let m = Mon::new(&t, |c| {
        c.wait_for_attach = true;
        c.tty = true;
    });
    let mut l = m.launch();
    let mut c = m.attach(Hello {
        stdin: false,
        stdout: true,
        stderr: true,
        wait: false,
        ..Default::default()
    });
    c.resize(33, 111).unwrap();
    started(&mut l);
    let (out, err, code) = collect(&mut c);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("is-a-tty"), "{out:?}");
    assert!(out.contains("33 111"), "{out:?}");
    assert_eq!(err, "");
    let st = m.wait_done();
    assert_eq!(st.exit_code, Some(0));
    assert!(m
        .log_entries("ctr.log")
        .iter()
        .all(|e| e["stream"] == "stdout"));
}

#[test]
fn restart_on_failure_twice() {
    let Some(mut t) = common::setup("restart_on_failure_twice") else {
        return;
    };
    t.sh("echo run; exit 1");
    let m = Mon::new(&t, |c| {
        c.restart = RestartPolicy {
            name: RestartName::OnFailure,
            max_retries: 2,
        }
    });
    let mut l = m.launch();
    started(&mut l);
    let st = m.wait_done();
    assert_eq!((st.restart_count, st.exit_code), (2, Some(1)), "{st:?}");
    let runs = m
        .log_entries("ctr.log")
        .iter()
        .filter(|e| e["log"] == "run\n")
        .count();
    assert_eq!(runs, 3);
}

#[test]
fn stopped_file_suppresses_always() {
    let Some(mut t) = common::setup("stopped_file_suppresses_always") else {
        return;
    };
    t.sh("exit 0");
    let m = Mon::new(&t, |c| {
        c.restart = RestartPolicy {
            name: RestartName::Always,
            max_retries: 0,
        };
        c.log.driver = LogDriver::None;
    });
    let mut l = m.launch();
    started(&mut l);
    m.wait_state("restarted once", |s| s.restart_count >= 1);
    m.touch_stopped();
    let st = m.wait_done();
    assert_eq!(st.status, "exited");
    let n = st.restart_count;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(m.state().restart_count, n);
}

fn health_process(t: &TestCtx, args: &[&str]) -> PathBuf {
    let p = t.path("health-process.json");
    let proc = json!({
        "terminal": false,
        "user": {"uid": 0, "gid": 0},
        "args": args,
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "cwd": "/",
    });
    std::fs::write(&p, proc.to_string()).unwrap();
    p
}

fn health_mon(t: &mut TestCtx, args: &[&str], retries: u32) -> Mon {
    t.set_args(&["sleep", "1000"]);
    let process_file = health_process(t, args);
    Mon::new(t, |c| {
        c.healthcheck = Some(HealthConfig {
            process_file,
            interval_ns: 200_000_000,
            timeout_ns: 5_000_000_000,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries,
            on_failure: OnFailure::None,
        })
    })
}

fn stop(t: &TestCtx, m: &Mon) {
    m.touch_stopped();
    t.rt(&["kill", &t.id, "KILL"]).check();
    let st = m.wait_done();
    assert_eq!(st.exit_code, Some(137));
}

#[test]
fn healthcheck_healthy() {
    let Some(mut t) = common::setup("healthcheck_healthy") else {
        return;
    };
    let m = health_mon(&mut t, &["sh", "-c", "echo fine"], 3);
    let mut l = m.launch();
    started(&mut l);
    let st = m.wait_state("healthy", |s| {
        s.health.as_ref().is_some_and(|h| h.status == "healthy")
    });
    let h = st.health.unwrap();
    assert_eq!(h.failing_streak, 0);
    assert_eq!(h.log[0].exit_code, 0);
    assert_eq!(h.log[0].output, "fine\n");
    stop(&t, &m);
}

#[test]
fn healthcheck_unhealthy() {
    let Some(mut t) = common::setup("healthcheck_unhealthy") else {
        return;
    };
    let m = health_mon(&mut t, &["false"], 2);
    let mut l = m.launch();
    started(&mut l);
    let st = m.wait_state("unhealthy", |s| {
        s.health.as_ref().is_some_and(|h| h.status == "unhealthy")
    });
    let h = st.health.unwrap();
    assert!(h.failing_streak >= 2, "{h:?}");
    assert!(h.log.iter().all(|r| r.exit_code == 1), "{h:?}");
    stop(&t, &m);
}

#[test]
fn log_rotation() {
    let Some(mut t) = common::setup("log_rotation") else {
        return;
    };
    t.sh("i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done");
    let m = Mon::new(&t, |c| {
        c.log.max_size = 2000;
        c.log.max_file = 3;
    });
    let mut l = m.launch();
    started(&mut l);
    m.wait_done();
    for name in ["ctr.log", "ctr.log.1", "ctr.log.2"] {
        let len = std::fs::metadata(m.run_dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .len();
        assert!(len > 0 && len <= 2000, "{name}: {len} bytes");
    }
    assert!(!m.run_dir.join("ctr.log.3").exists());
    let live = m.log_entries("ctr.log");
    assert_eq!(live.last().unwrap()["log"], "line-199\n");
    let older = m.log_entries("ctr.log.1");
    let first_live: usize = live[0]["log"].as_str().unwrap()[5..]
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        older.last().unwrap()["log"],
        format!("line-{}\n", first_live - 1)
    );
}

#[test]
fn monitor_outlives_launcher_and_forwards_sigterm() {
    let Some(mut t) = common::setup("monitor_outlives_launcher_and_forwards_sigterm") else {
        return;
    };
    t.sh("trap 'exit 7' TERM; echo up; while true; do sleep 0.1; done");
    let m = Mon::new(&t, |_| {});
    // The launcher is a shell that goes away as soon as the monitor detached.
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg("\"$0\" --config \"$1\" 3>/dev/null")
        .arg(MONITOR)
        .arg(&m.cfg_path)
        .status()
        .unwrap();
    assert!(st.success());
    m.wait_state("running", |s| s.status == "running");
    assert!(host::wait_until(T20, || m
        .log_entries("ctr.log")
        .iter()
        .any(|e| e["log"] == "up\n")));
    let pid = m.monitor_pid().expect("monitor.pid");
    assert!(host::pid_alive(pid));
    // SAFETY: the pid is the monitor this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let st = m.wait_done();
    assert_eq!(st.exit_code, Some(7), "{st:?}");
}

#[test]
fn failing_start_reports_127() {
    let Some(mut t) = common::setup("failing_start_reports_127") else {
        return;
    };
    t.set_args(&["no-such-command-here"]);
    let m = Mon::new(&t, |_| {});
    let mut l = m.launch();
    match l.next_event().unwrap() {
        Event::Failed { error, exit_code } => {
            assert_eq!(exit_code, 127, "{error}");
            assert!(error.contains("no-such-command-here"), "{error}");
        }
        e => panic!("expected failed, got {e:?}"),
    }
    let st = m.wait_done();
    assert_eq!(st.status, "created");
    assert_eq!(st.exit_code, Some(127));
    assert!(st.error.is_some());
    assert!(m.run_dir.join("cleaned").exists());
    assert_eq!(m.log_entries("ctr.log"), Vec::<serde_json::Value>::new());
}

#[test]
fn wait_exit_reports_and_none_when_gone() {
    let Some(mut t) = common::setup("wait_exit_reports_and_none_when_gone") else {
        return;
    };
    t.sh("sleep 0.5; exit 4");
    let m = Mon::new(&t, |_| {});
    let mut l = m.launch();
    started(&mut l);
    let info = berth_monitor::client::wait_exit(&m.run_dir)
        .unwrap()
        .expect("exit info");
    assert_eq!(info.exit_code, 4);
    m.wait_done();
    assert_eq!(berth_monitor::client::wait_exit(&m.run_dir).unwrap(), None);
}

#[test]
fn launch_reports_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("monitor.json");
    std::fs::write(&cfg, r#"{"id":"x","run_dir":"/nonexistent"}"#).unwrap();
    // launch() itself parses the config to learn the run dir.
    assert!(launch::launch(Path::new(MONITOR), &cfg).is_err());
    let out = std::process::Command::new(MONITOR)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("monitor config"));
}
