//! The monitor process: one per container, single-threaded, driven by a
//! `poll` loop over the container's stdio, the attach socket and a signalfd.

mod attach;
pub mod health;
mod hold;
pub mod logs;
mod proxy;
pub mod restart;
mod runtime;

use crate::client::ATTACH_SOCKET;
use crate::config::{HealthConfig, MonitorConfig, OnFailure};
use crate::launch::{Event, SYNC_FD};
use crate::protocol::{self, ExitInfo, Frame};
use crate::state::{self, HealthResult, MonitorState};
use crate::sys;
use attach::Conn;
use logs::{LogWriter, Stream};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

const ATTACH_WAIT: Duration = Duration::from_secs(30);
const DRAIN: Duration = Duration::from_secs(1);
/// How long a client that offered to run the cleanup gets before the monitor runs
/// it itself.
const CLIENT_CLEANUP_WAIT: Duration = Duration::from_secs(60);
const READ_BUF: usize = 16 * 1024;

/// Entry point of the `berth-monitor` binary; returns its exit code.
pub fn main() -> i32 {
    let sync = sys::take_inherited_fd(SYNC_FD).map(File::from);
    let mut args = std::env::args_os().skip(1);
    let config_path = match (args.next(), args.next()) {
        (Some(flag), Some(p)) if flag == "--config" => PathBuf::from(p),
        _ => {
            let msg = "usage: berth-monitor --config FILE".to_string();
            eprintln!("{msg}");
            report(
                sync.as_ref(),
                &Event::Failed {
                    error: msg,
                    exit_code: 125,
                },
            );
            return 2;
        }
    };
    let cfg = match MonitorConfig::load(&config_path) {
        Ok(c) if !c.runtime.is_empty() => c,
        Ok(_) => return early_failure(sync, "monitor config has an empty runtime".into()),
        Err(e) => return early_failure(sync, format!("monitor config: {e}")),
    };
    match sys::fork() {
        Ok(sys::Fork::Parent) => sys::exit_now(0),
        Ok(sys::Fork::Child) => {}
        Err(e) => return early_failure(sync, format!("fork: {e}")),
    }
    if let Err(e) = detach() {
        sys::exit_now(early_failure(sync, format!("detaching: {e}")));
    }
    let code = match Monitor::new(cfg, sync) {
        Ok(m) => m.run(),
        Err((sync, e)) => early_failure(sync, e),
    };
    sys::exit_now(code)
}

fn early_failure(sync: Option<File>, error: String) -> i32 {
    eprintln!("berth-monitor: {error}");
    report(
        sync.as_ref(),
        &Event::Failed {
            error,
            exit_code: 125,
        },
    );
    1
}

fn report(sync: Option<&File>, ev: &Event) {
    if let Some(mut f) = sync {
        let mut line = serde_json::to_vec(ev).unwrap_or_default();
        line.push(b'\n');
        // The launcher may be gone; the state file carries the same facts.
        let _ = f.write_all(&line);
    }
}

/// Cuts every tie to the launcher: own session, stdio on /dev/null, cwd `/`.
fn detach() -> io::Result<()> {
    sys::setsid()?;
    sys::set_child_subreaper()?;
    sys::advise_random_exe();
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        sys::dup2(null.as_raw_fd(), fd)?;
    }
    std::env::set_current_dir("/")
}

/// The container's stdio for the current run.
#[derive(Default)]
struct Io {
    /// stdout and stderr read ends; with a tty, [0] is the pty master.
    out: [Option<File>; 2],
    /// Where stdin bytes go: the stdin pipe or the pty master.
    input: Option<File>,
    pty: Option<File>,
    /// Output is only consumed once the runtime succeeded: on failure the
    /// pipes hold the runtime's own error, not container output.
    live: bool,
}

struct HealthRun {
    pid: i32,
    out: Option<File>,
    output: Vec<u8>,
    start: SystemTime,
    deadline: Instant,
    timed_out: bool,
}

enum Tag {
    Signal,
    Listener,
    Console,
    Out(usize),
    Input,
    Health,
    Conn(usize),
}

struct Monitor {
    cfg: MonitorConfig,
    state: MonitorState,
    sync: Option<File>,
    sigfd: File,
    listener: UnixListener,
    /// Published host ports held for the monitor's life (see `hold`).
    _held: Vec<std::os::fd::OwnedFd>,
    conns: Vec<Conn>,
    io: Io,
    stdin_buf: Vec<u8>,
    stdin_closed: bool,
    winsize: Option<(u16, u16)>,
    console: Option<UnixListener>,
    logs: LogWriter,
    /// Exit codes of reaped children nobody has claimed yet.
    exited: HashMap<i32, i32>,
    init_pid: i32,
    run_start: Instant,
    health_on: bool,
    health_next: Option<Instant>,
    health_run: Option<HealthRun>,
    force_restart: bool,
    /// A client reported the cleanup done (see `client_cleanup`).
    cleaned: bool,
}

type InitError = (Option<File>, String);

impl Monitor {
    fn new(cfg: MonitorConfig, sync: Option<File>) -> Result<Monitor, InitError> {
        macro_rules! tryi {
            ($e:expr, $what:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Err((sync, format!("{}: {e}", $what))),
                }
            };
        }
        let run_dir = cfg.run_dir.clone();
        let me = std::process::id() as i32;
        tryi!(
            std::fs::write(run_dir.join("monitor.pid"), me.to_string()),
            "writing monitor.pid"
        );
        let sock = run_dir.join(ATTACH_SOCKET);
        let _ = std::fs::remove_file(&sock);
        // The socket is created 0600 from the start rather than chmod-ed after bind.
        let old = sys::umask(0o177);
        let listener = UnixListener::bind(&sock);
        sys::umask(old);
        let listener = tryi!(listener, format!("binding {}", sock.display()));
        tryi!(listener.set_nonblocking(true), "attach socket");
        let sigfd = File::from(tryi!(sys::signalfd(), "signalfd"));
        // After the signal mask is set: the relay threads inherit it.
        let held = tryi!(hold::bind_all(&cfg.holds), "published ports");
        tryi!(proxy::start(&cfg.proxies), "userland proxy");
        let state = MonitorState {
            status: "created".into(),
            monitor_pid: me,
            ..Default::default()
        };
        let logs = LogWriter::new(&cfg.log);
        let health_on = false;
        Ok(Monitor {
            cfg,
            state,
            sync,
            sigfd,
            listener,
            _held: held,
            conns: Vec::new(),
            io: Io::default(),
            stdin_buf: Vec::new(),
            stdin_closed: false,
            winsize: None,
            console: None,
            logs,
            exited: HashMap::new(),
            init_pid: 0,
            run_start: Instant::now(),
            health_on,
            health_next: None,
            health_run: None,
            force_restart: false,
            cleaned: false,
        })
    }

    fn run_dir(&self) -> &Path {
        &self.cfg.run_dir
    }

    fn save(&self) {
        let _ = state::write(self.run_dir(), &self.state);
    }

    fn event(&mut self, ev: &Event) {
        report(self.sync.as_ref(), ev);
    }

    fn run(mut self) -> i32 {
        self.save();
        self.event(&Event::Listening);
        if self.cfg.wait_for_attach {
            let deadline = Instant::now() + ATTACH_WAIT;
            while !self.conns.iter().any(|c| c.hello.is_some()) {
                let now = Instant::now();
                if now >= deadline {
                    let msg = "no attach client connected within 30s".to_string();
                    return self.start_failed(msg, 125);
                }
                self.service(Some(deadline - now));
            }
        }
        let mut backoff = restart::Backoff::default();
        let mut first = true;
        loop {
            let code = match self.start_container() {
                Ok(pid) => {
                    if first {
                        self.event(&Event::Started { pid });
                        self.sync = None;
                        sys::release_startup_code();
                    }
                    self.watch(pid)
                }
                Err((msg, code)) if first => return self.start_failed(msg, code),
                Err((msg, code)) => {
                    // A failed restart is one more exit for the policy to judge.
                    self.state.error = Some(msg);
                    self.state.exit_code = Some(code);
                    self.state.finished_at = Some(now_rfc3339());
                    self.state.status = "exited".into();
                    self.save();
                    code
                }
            };
            first = false;
            // `berth update --restart` on a running container leaves the new policy
            // here; it applies from the next exit on.
            if let Ok(text) = std::fs::read(self.run_dir().join("restart.json")) {
                if let Ok(p) = serde_json::from_slice(&text) {
                    self.cfg.restart = p;
                }
            }
            let stopped = self.run_dir().join("stopped").exists();
            let again = !stopped
                && (std::mem::take(&mut self.force_restart)
                    || restart::should_restart(
                        &self.cfg.restart,
                        code,
                        self.state.restart_count,
                        stopped,
                    ));
            if !again {
                self.save();
                break;
            }
            self.runtime_wait(&["delete", "--force", &self.cfg.id.clone()]);
            self.send_exit(false);
            self.state.status = "restarting".into();
            self.state.restart_count += 1;
            self.state.pid = 0;
            self.save();
            let delay = backoff.delay(self.run_start.elapsed());
            let until = Instant::now() + delay;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                if left.is_zero() {
                    break;
                }
                self.service(Some(left));
            }
            if self.run_dir().join("stopped").exists() {
                self.state.status = "exited".into();
                self.save();
                break;
            }
        }
        self.finish()
    }

    /// The first start failed: report it and leave without restarting.
    fn start_failed(mut self, msg: String, code: i32) -> i32 {
        self.state.error = Some(msg.clone());
        self.state.exit_code = Some(code);
        self.save();
        self.event(&Event::Failed {
            error: msg,
            exit_code: code,
        });
        self.sync = None;
        self.runtime_wait(&["delete", "--force", &self.cfg.id.clone()]);
        self.finish()
    }

    /// Cleanup, final exit frames, and the monitor's own files.
    fn finish(mut self) -> i32 {
        // The cleanup command deletes the runtime state itself (one process fewer on
        // every container exit); without one, the monitor does.
        if self.cfg.cleanup.is_empty() {
            self.runtime_wait(&["delete", "--force", &self.cfg.id.clone()]);
        } else if !self.client_cleanup() {
            let mut c = std::process::Command::new(&self.cfg.cleanup[0]);
            c.args(&self.cfg.cleanup[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(child) = c.spawn() {
                self.wait_pid(child.id() as i32);
            }
        }
        // No new clients from here on; those already queued still get the frame.
        let _ = std::fs::remove_file(self.run_dir().join(ATTACH_SOCKET));
        self.accept();
        self.send_exit(true);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.conns.iter().any(|c| c.has_output()) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.service(Some(deadline - now));
        }
        let _ = std::fs::remove_file(self.run_dir().join("monitor.pid"));
        0
    }

    /// Lets a client that offered it run the cleanup; true once it reports done.
    fn client_cleanup(&mut self) -> bool {
        let offered = |c: &Conn| !c.dead && c.hello.is_some_and(|h| h.cleanup);
        let mut info = self.exit_info();
        info.cleanup = true;
        let Some(conn) = self.conns.iter_mut().find(|c| offered(c)) else {
            return false;
        };
        conn.queue(&Frame::Exit(info).encode());
        self.cleaned = false;
        let deadline = Instant::now() + CLIENT_CLEANUP_WAIT;
        while !self.cleaned && self.conns.iter().any(offered) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.service(Some(deadline - now));
        }
        self.cleaned
    }

    fn exit_info(&self) -> ExitInfo {
        ExitInfo {
            exit_code: self.state.exit_code.unwrap_or(-1),
            oom_killed: self.state.oom_killed,
            error: self.state.error.clone(),
            cleanup: false,
        }
    }

    /// Sends the exit frame to every client; `wait` clients (or all, when
    /// `all` is set) are closed once it is flushed.
    fn send_exit(&mut self, all: bool) {
        let frame = Frame::Exit(self.exit_info()).encode();
        for c in &mut self.conns {
            if c.hello.is_some_and(|h| h.wait) || all {
                c.close_after_flush = true;
            }
            c.queue(&frame);
        }
        self.conns.retain(|c| !c.dead);
    }

    /// Runs `<runtime> run --detach` and returns the container's init pid,
    /// or the error message and Docker exit code.
    fn start_container(&mut self) -> Result<i32, (String, i32)> {
        let run_dir = self.run_dir().to_path_buf();
        let log = run_dir.join("runtime.log");
        let pid_file = run_dir.join("init.pid");
        let console_path = run_dir.join("console.sock");
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::write(&log, b"");
        self.io = Io::default();
        self.state.error = None;

        let sys_err = |what: &str, e: io::Error| (format!("{what}: {e}"), 125);
        let mut args: Vec<std::ffi::OsString> = vec![
            "--log".into(),
            log.clone().into(),
            "--log-format".into(),
            "json".into(),
            "run".into(),
            "--detach".into(),
            "--bundle".into(),
            self.cfg.bundle.clone().into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        if self.cfg.tty {
            let _ = std::fs::remove_file(&console_path);
            let old = sys::umask(0o177);
            let l = UnixListener::bind(&console_path);
            sys::umask(old);
            let l = l.map_err(|e| sys_err("console socket", e))?;
            l.set_nonblocking(true)
                .map_err(|e| sys_err("console socket", e))?;
            self.console = Some(l);
            args.push("--console-socket".into());
            args.push(console_path.clone().into());
        }
        args.push(self.cfg.id.clone().into());
        let mut cmd = runtime::command(&self.cfg, &args);
        if !self.cfg.tty {
            let pipe = || sys::pipe().map_err(|e| sys_err("pipe", e));
            // Even with stdin already closed by a client: bytes it sent before
            // the start are still buffered and must reach the container.
            if self.cfg.stdin {
                let (r, w) = pipe()?;
                let _ = sys::set_nonblocking(&w);
                self.io.input = Some(File::from(w));
                cmd.stdin(Stdio::from(r));
            }
            for (i, slot) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
                let (r, w) = pipe()?;
                let _ = sys::set_nonblocking(&r);
                self.io.out[i] = Some(File::from(r));
                if slot == Stream::Stdout {
                    cmd.stdout(Stdio::from(w));
                } else {
                    cmd.stderr(Stdio::from(w));
                }
            }
        }
        let spawned = cmd.spawn();
        // Our copies of the container's pipe ends must go, or EOF never comes.
        drop(cmd);
        let child = spawned.map_err(|e| {
            (
                format!("starting the runtime {}: {e}", self.cfg.runtime[0]),
                125,
            )
        })?;
        let code = self.wait_pid(child.id() as i32);
        self.console = None;
        let _ = std::fs::remove_file(&console_path);
        if code != 0 {
            self.io = Io::default();
            let msg = runtime::last_error(&log)
                .unwrap_or_else(|| format!("the runtime exited with status {code}"));
            let code = runtime::classify(&msg);
            return Err((msg, code));
        }
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| ("the runtime wrote no usable init.pid".to_string(), 125))?;
        if self.cfg.tty && self.io.pty.is_none() {
            sys::kill(pid, libc::SIGKILL);
            return Err(("the runtime sent no console".to_string(), 125));
        }
        self.io.live = true;
        self.flush_stdin();
        self.init_pid = pid;
        self.run_start = Instant::now();
        self.state.status = "running".into();
        self.state.pid = pid;
        self.state.started_at = Some(now_rfc3339());
        self.state.finished_at = None;
        self.state.exit_code = None;
        self.state.oom_killed = false;
        if let Some(h) = &self.cfg.healthcheck {
            self.state.health = Some(health::initial());
            self.health_on = true;
            self.health_next = Some(Instant::now() + health::next_delay(h, true));
        }
        self.save();
        Ok(pid)
    }

    /// Serves everything until init exits; returns its exit code.
    fn watch(&mut self, pid: i32) -> i32 {
        let oom_file = self.cfg.oom_file.clone();
        let oom_base = oom_file.as_deref().and_then(runtime::oom_kills);
        let code = self.wait_pid(pid);
        self.init_pid = 0;
        self.stop_health();
        let deadline = Instant::now() + DRAIN;
        while self.io.out.iter().any(Option::is_some) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.service(Some(deadline - now));
        }
        self.io = Io::default();
        self.logs.flush();
        let oom_now = oom_file.as_deref().and_then(runtime::oom_kills);
        self.state.oom_killed = matches!((oom_base, oom_now), (Some(a), Some(b)) if b > a);
        self.state.status = "exited".into();
        self.state.pid = 0;
        self.state.exit_code = Some(code);
        self.state.finished_at = Some(now_rfc3339());
        // Not saved yet: the caller first decides on a restart, so no reader ever
        // sees "exited" for a container that is about to restart.
        code
    }

    fn runtime_wait(&mut self, args: &[&str]) -> Option<i32> {
        let child = runtime::command(&self.cfg, args).spawn().ok()?;
        Some(self.wait_pid(child.id() as i32))
    }

    fn runtime_background(&mut self, args: &[&str]) {
        // Reaped by the loop like any other child; nobody needs its status.
        let _ = runtime::command(&self.cfg, args).spawn();
    }

    /// Serves the loop until `pid` has been reaped.
    fn wait_pid(&mut self, pid: i32) -> i32 {
        loop {
            if let Some(code) = self.exited.remove(&pid) {
                return code;
            }
            self.service(None);
        }
    }

    fn stop_health(&mut self) {
        self.health_on = false;
        self.health_next = None;
        if let Some(h) = self.health_run.take() {
            sys::kill(h.pid, libc::SIGKILL);
        }
    }

    /// One round of the poll loop.
    fn service(&mut self, timeout: Option<Duration>) {
        let now = Instant::now();
        let mut wake = timeout.map(|t| now + t);
        let mut earliest = |t: Instant| {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        };
        if self.health_on {
            if let Some(h) = &self.health_run {
                if !h.timed_out {
                    earliest(h.deadline);
                }
            } else if let Some(t) = self.health_next {
                earliest(t);
            }
        }
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8 + self.conns.len());
        let mut tags: Vec<Tag> = Vec::with_capacity(8 + self.conns.len());
        let mut add = |fd: i32, events: i16, tag: Tag| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tags.push(tag);
        };
        add(self.sigfd.as_raw_fd(), libc::POLLIN, Tag::Signal);
        add(self.listener.as_raw_fd(), libc::POLLIN, Tag::Listener);
        if let Some(c) = &self.console {
            add(c.as_raw_fd(), libc::POLLIN, Tag::Console);
        }
        if self.io.live {
            for (i, o) in self.io.out.iter().enumerate() {
                if let Some(f) = o {
                    add(f.as_raw_fd(), libc::POLLIN, Tag::Out(i));
                }
            }
            if let Some(f) = &self.io.input {
                if !self.stdin_buf.is_empty() {
                    add(f.as_raw_fd(), libc::POLLOUT, Tag::Input);
                }
            }
        }
        if let Some(f) = self.health_run.as_ref().and_then(|h| h.out.as_ref()) {
            add(f.as_raw_fd(), libc::POLLIN, Tag::Health);
        }
        let take_input = self.stdin_buf.len() < attach::MAX_PENDING;
        for (i, c) in self.conns.iter().enumerate() {
            let mut ev = if take_input { libc::POLLIN } else { 0 };
            if c.has_output() {
                ev |= libc::POLLOUT;
            }
            add(c.stream.as_raw_fd(), ev, Tag::Conn(i));
        }
        let ms = match wake {
            None => -1,
            Some(w) => {
                let d = w.saturating_duration_since(Instant::now());
                // Round up so a timer never fires a hair early and spins.
                d.as_millis().min(i32::MAX as u128) as i32
                    + i32::from(d.subsec_nanos() % 1_000_000 != 0)
            }
        };
        if sys::poll(&mut fds, ms).is_err() {
            return;
        }
        let mut buf = [0u8; READ_BUF];
        for (pfd, tag) in fds.iter().zip(tags) {
            if pfd.revents == 0 {
                continue;
            }
            match tag {
                Tag::Signal => self.on_signals(),
                Tag::Listener => self.accept(),
                Tag::Console => self.on_console(),
                Tag::Out(i) => self.on_output(i, &mut buf),
                Tag::Input => self.flush_stdin(),
                Tag::Health => self.on_health_output(&mut buf),
                Tag::Conn(i) => {
                    if pfd.revents & libc::POLLOUT != 0 {
                        self.conns[i].flush();
                    }
                    if pfd.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                        let frames = self.conns[i].read_frames(&mut buf);
                        for f in frames {
                            self.on_client_frame(f);
                        }
                    }
                }
            }
        }
        self.conns.retain(|c| !c.dead);
        self.health_timers();
    }

    fn on_signals(&mut self) {
        for sig in sys::read_signals(&self.sigfd) {
            if sig == libc::SIGTERM {
                sys::kill(self.init_pid, libc::SIGTERM);
            }
        }
        // Reap everything: orphans re-parented to us as subreaper included.
        while let Some((pid, code)) = sys::reap_any() {
            if self.health_run.as_ref().is_some_and(|h| h.pid == pid) {
                self.finish_health(code);
            } else {
                self.exited.insert(pid, code);
            }
        }
        // Unclaimed statuses of leftovers would pile up over a long life.
        if self.exited.len() > 64 {
            let keep = self.init_pid;
            self.exited.retain(|&p, _| p == keep);
        }
    }

    fn accept(&mut self) {
        while let Ok((s, _)) = self.listener.accept() {
            if let Ok(c) = Conn::new(s) {
                self.conns.push(c);
            }
        }
    }

    fn on_console(&mut self) {
        let Some(l) = &self.console else { return };
        let Ok((s, _)) = l.accept() else { return };
        // The runtime sends the fd right after connecting; a bounded blocking
        // read is simpler than another state in the loop.
        let _ = s.set_nonblocking(false);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let Ok(fd) = sys::recv_fd(&s) else { return };
        self.set_pty(fd);
    }

    fn set_pty(&mut self, fd: OwnedFd) {
        let _ = sys::set_nonblocking(&fd);
        let pty = File::from(fd);
        if let Some((rows, cols)) = self.winsize {
            let _ = sys::set_winsize(&pty, rows, cols);
        }
        self.io.out[0] = pty.try_clone().ok();
        self.io.input = if self.cfg.stdin {
            pty.try_clone().ok()
        } else {
            None
        };
        self.io.pty = Some(pty);
        self.console = None;
    }

    fn on_output(&mut self, i: usize, buf: &mut [u8]) {
        let Some(f) = &mut self.io.out[i] else { return };
        let n = match f.read(buf) {
            Ok(0) => {
                self.io.out[i] = None;
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            // EIO from a pty master means the last slave fd closed.
            Err(_) => {
                self.io.out[i] = None;
                return;
            }
        };
        let data = &buf[..n];
        let (stream, kind) = if i == 0 {
            (Stream::Stdout, protocol::STDOUT)
        } else {
            (Stream::Stderr, protocol::STDERR)
        };
        self.logs.write(stream, data);
        let mut frame = None;
        for c in &mut self.conns {
            if c.wants(kind) {
                let fr = frame.get_or_insert_with(|| protocol::encode_raw(kind, data));
                c.queue(fr);
            }
        }
    }

    fn on_client_frame(&mut self, f: Frame) {
        match f {
            Frame::Stdin(data) if self.cfg.stdin && !self.stdin_closed => {
                self.stdin_buf.extend_from_slice(&data);
                self.flush_stdin();
            }
            Frame::CloseStdin => {
                if self.cfg.tty {
                    // A terminal has no EOF of its own; ^D is what a user types.
                    self.stdin_buf.push(4);
                    self.flush_stdin();
                } else {
                    self.stdin_closed = true;
                    self.flush_stdin();
                }
            }
            Frame::Cleaned => self.cleaned = true,
            Frame::Resize { rows, cols } => {
                self.winsize = Some((rows, cols));
                if let Some(p) = &self.io.pty {
                    let _ = sys::set_winsize(p, rows, cols);
                }
            }
            _ => {}
        }
    }

    fn flush_stdin(&mut self) {
        if !self.io.live {
            return;
        }
        if let Some(f) = &mut self.io.input {
            while !self.stdin_buf.is_empty() {
                match f.write(&self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        // The container closed its stdin; nothing more gets through.
                        self.stdin_buf.clear();
                        self.io.input = None;
                        break;
                    }
                }
            }
        }
        if self.stdin_closed && self.stdin_buf.is_empty() && !self.cfg.tty {
            self.io.input = None;
        }
        if self.stdin_buf.capacity() > 64 * 1024 && self.stdin_buf.is_empty() {
            self.stdin_buf.shrink_to_fit();
        }
    }

    fn health_timers(&mut self) {
        if !self.health_on {
            return;
        }
        let now = Instant::now();
        if let Some(h) = &mut self.health_run {
            if !h.timed_out && now >= h.deadline {
                h.timed_out = true;
                sys::kill(h.pid, libc::SIGKILL);
            }
            return;
        }
        if self.health_next.is_some_and(|t| now >= t) {
            self.health_next = None;
            self.start_health();
        }
    }

    fn health_cfg(&self) -> Option<&HealthConfig> {
        self.cfg.healthcheck.as_ref()
    }

    fn start_health(&mut self) {
        let Some(h) = self.health_cfg().cloned() else {
            return;
        };
        let start = SystemTime::now();
        let spawned = (|| -> io::Result<HealthRun> {
            let (r, w) = sys::pipe()?;
            let w2 = w.try_clone()?;
            let mut cmd = runtime::command(
                &self.cfg,
                &[
                    std::ffi::OsStr::new("exec"),
                    "--process".as_ref(),
                    h.process_file.as_os_str(),
                    self.cfg.id.as_ref(),
                ],
            );
            cmd.stdout(Stdio::from(w)).stderr(Stdio::from(w2));
            let child = cmd.spawn()?;
            drop(cmd);
            sys::set_nonblocking(&r)?;
            let timeout = if h.timeout_ns == 0 {
                Duration::from_secs(30)
            } else {
                Duration::from_nanos(h.timeout_ns)
            };
            Ok(HealthRun {
                pid: child.id() as i32,
                out: Some(File::from(r)),
                output: Vec::new(),
                start,
                deadline: Instant::now() + timeout,
                timed_out: false,
            })
        })();
        match spawned {
            Ok(run) => self.health_run = Some(run),
            Err(e) => {
                let result = HealthResult {
                    start: rfc3339(start),
                    end: now_rfc3339(),
                    exit_code: -1,
                    output: format!("starting the health check: {e}"),
                };
                self.record_health(result);
            }
        }
    }

    fn on_health_output(&mut self, buf: &mut [u8]) {
        let Some(h) = &mut self.health_run else {
            return;
        };
        let Some(f) = &mut h.out else { return };
        match f.read(buf) {
            Ok(0) => h.out = None,
            Ok(n) => {
                let room = health::MAX_OUTPUT.saturating_sub(h.output.len());
                h.output.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => h.out = None,
        }
    }

    fn finish_health(&mut self, code: i32) {
        let Some(mut h) = self.health_run.take() else {
            return;
        };
        // Whatever the check wrote before exiting is in the pipe by now.
        if let Some(f) = &mut h.out {
            let mut buf = [0u8; 4096];
            while h.output.len() < health::MAX_OUTPUT {
                match f.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let room = health::MAX_OUTPUT - h.output.len();
                        h.output.extend_from_slice(&buf[..n.min(room)]);
                    }
                    _ => break,
                }
            }
        }
        if !self.health_on {
            return;
        }
        let cfg = self.health_cfg().cloned();
        let Some(cfg) = cfg else { return };
        let (exit_code, output) = if h.timed_out {
            (-1, health::timeout_message(&cfg))
        } else {
            (code, String::from_utf8_lossy(&h.output).into_owned())
        };
        self.record_health(HealthResult {
            start: rfc3339(h.start),
            end: now_rfc3339(),
            exit_code,
            output,
        });
    }

    fn record_health(&mut self, result: HealthResult) {
        let Some(cfg) = self.health_cfg().cloned() else {
            return;
        };
        let in_start = self.run_start.elapsed() < Duration::from_nanos(cfg.start_period_ns);
        let health = self.state.health.get_or_insert_with(health::initial);
        let became_unhealthy = health::apply(health, &cfg, result, in_start);
        self.save();
        self.health_next = Some(Instant::now() + health::next_delay(&cfg, false));
        if became_unhealthy && cfg.on_failure != OnFailure::None {
            if cfg.on_failure == OnFailure::Restart {
                self.force_restart = true;
            }
            let id = self.cfg.id.clone();
            self.runtime_background(&["kill", &id, "KILL"]);
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}
