//! `exec`: a new process inside a running container's namespaces and cgroup, with the
//! container's seccomp profile and the given process settings.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::channel::Msg;
use crate::error::{IoContext, Result, RuntimeError};
use crate::lifecycle::Container;
use crate::spawn::{self, Request};
use crate::state::Status;
use crate::{console, namespaces, process};

pub struct ExecOptions {
    pub root: PathBuf,
    pub id: String,
    pub process: Process,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
}

pub struct Execd {
    pub pid: i32,
    pub pty_master: Option<OwnedFd>,
}

pub fn exec(opts: &ExecOptions) -> Result<Execd> {
    let c = Container::load(&opts.root, &opts.id)?;
    let status = c.status();
    if !matches!(status, Status::Running | Status::Created) {
        return Err(RuntimeError::WrongState {
            id: opts.id.clone(),
            status: status.to_string(),
            action: "exec",
            needed: "running",
        });
    }
    if opts.process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::Usage("exec needs a command to run".into()));
    }
    if let Some(caps) = opts.process.capabilities() {
        crate::capabilities::check_against_bounding(caps)?;
    }
    let terminal = opts.process.terminal() == Some(true);
    let console_socket = match (&opts.console_socket, terminal) {
        (Some(p), true) => Some(console::connect_socket(p)?),
        (Some(_), false) => {
            return Err(RuntimeError::Usage(
                "--console-socket was given but the process has no terminal (-t)".into(),
            ))
        }
        _ => None,
    };
    let spec = &c.state.config;
    let plan = namespaces::plan(&namespaces::of_process(c.state.pid)?)?;
    let req = Request {
        plan,
        uid_maps: Vec::new(),
        gid_maps: Vec::new(),
        time_offsets: None,
        cgroup: Some(c.cgroup.as_ref()),
    };
    let proc_ = &opts.process;
    let seccomp_cfg = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    let personality = spec.linux().as_ref().and_then(|l| l.personality().clone());
    let preserve = opts.preserve_fds;
    // Compiled here, on the host side, where the BPF cache is reachable.
    let filter = seccomp_cfg
        .as_ref()
        .map(|s| crate::seccomp::prepare(s, Some(&crate::seccomp::cache_dir(&opts.root))))
        .transpose()?;
    let mut notify = process::NotifyTarget::connect(seccomp_cfg.as_ref())?;
    if let Some(n) = notify.as_mut() {
        n.state = serde_json::to_vec(&c.state.output(status)).unwrap_or_default();
    }
    let spawned = spawn::spawn(req, move |chan| {
        crate::sys::set_dumpable(false).ctx(|| "making the exec process non-dumpable".into())?;
        if terminal {
            let size = proc_
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            let pty = console::open_here(size)?;
            console::chown_to_user(pty.slave.as_fd(), proc_.user())?;
            match &console_socket {
                Some(sock) => console::send_master(sock.as_fd(), pty.master.as_fd())?,
                None => chan
                    .send_with_fd(&Msg::PtyMaster, Some(pty.master.as_fd()))
                    .ctx(|| "passing the pty master".into())?,
            }
            drop(pty.master);
            console::become_console(pty.slave.as_fd())?;
        }
        drop(console_socket);
        process::set_rlimits(proc_)?;
        process::set_oom_score_adj(proc_)?;
        process::set_personality(personality.as_ref())?;
        let program = process::resolve_program(proc_)?;
        process::finalize_and_exec(proc_, &program, filter.as_ref(), notify, preserve)
    })?;
    let mut pty_master = None;
    loop {
        match spawned
            .chan
            .recv()
            .ctx(|| "reading from the exec process".into())?
        {
            Some((Msg::PtyMaster, fd)) => pty_master = fd,
            Some((Msg::Error(e), _)) => {
                let _ = crate::sys::waitpid(spawned.pid, false);
                return Err(RuntimeError::Init(e));
            }
            Some((other, _)) => {
                return Err(RuntimeError::Init(format!("unexpected message {other:?}")))
            }
            // The channel closes when execve succeeds (close-on-exec).
            None => break,
        }
    }
    if let Some(p) = &opts.pid_file {
        crate::create::write_pid_file(p, spawned.pid)?;
    }
    Ok(Execd {
        pid: spawned.pid,
        pty_master,
    })
}

/// Reads a process.json given with `exec -p`.
pub fn load_process(path: &Path) -> Result<Process> {
    let data = if path == Path::new("-") {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut s)
            .ctx(|| "reading process from stdin".into())?;
        s
    } else {
        std::fs::read(path).ctx(|| format!("reading {}", path.display()))?
    };
    serde_json::from_slice(&data).map_err(|source| RuntimeError::ConfigParse {
        path: path.to_path_buf(),
        source,
    })
}
