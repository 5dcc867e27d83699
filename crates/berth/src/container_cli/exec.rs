//! `exec`: a new process in a running container, with the container's environment,
//! user and working directory unless overridden. It runs the runtime in this
//! process (no monitor), so an exec costs one runtime call.

use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::exec::{exec as exec_in, ExecOptions};
use oci_spec::runtime::{Process, UserBuilder};

use super::{open_engine, Failed};

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background.
    #[arg(short, long)]
    detach: bool,
    /// Keep STDIN open even if not attached.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long)]
    env_file: Vec<PathBuf>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn classify(message: String) -> anyhow::Error {
    let code = if message.contains("executable file not found")
        || message.contains("no such file or directory")
    {
        127
    } else if message.contains("permission denied") {
        126
    } else {
        125
    };
    Failed::with_code(code, message)
}

pub fn exec(a: ExecArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    // The process joins the container: run from a sealed copy of the binary, as the
    // runtime's own exec does (CVE-2019-5736).
    berth_runtime::sealed::ensure_sealed().map_err(|e| Failed::engine(e.into()))?;
    let engine = open_engine(root, runroot).map_err(Failed::engine)?;
    let c = engine
        .find(&a.container)
        .map_err(|e| Failed::engine(e.into()))?;
    if c.state.status == berth_engine::state::Status::Paused {
        return Err(Failed::with_code(
            125,
            format!(
                "container {} is paused, unpause the container before exec",
                c.short_id()
            ),
        ));
    }
    if !c.state.status.is_active() {
        return Err(Failed::with_code(
            125,
            format!("container {} is not running", c.short_id()),
        ));
    }
    let bundle = engine.layout().run_dir(&c.id);
    let spec = berth_runtime::config::load(&bundle).map_err(|e| Failed::engine(e.into()))?;
    let mut process: Process = spec
        .process()
        .clone()
        .context("the container's config has no process")?;
    process.set_args(Some(a.command.clone()));
    process.set_terminal(Some(a.tty));
    let mut env = process.env().clone().unwrap_or_default();
    let mut extra = Vec::new();
    for f in &a.env_file {
        extra.extend(berth_engine::parse::parse_env_file(f)?);
    }
    extra.extend(a.env.iter().filter_map(|e| {
        if e.contains('=') {
            Some(e.clone())
        } else {
            std::env::var(e).ok().map(|v| format!("{e}={v}"))
        }
    }));
    for e in extra {
        let key = e.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    process.set_env(Some(env));
    if let Some(w) = &a.workdir {
        process.set_cwd(w.into());
    }
    if let Some(u) = &a.user {
        let rootfs = engine.images().snapshots_dir().join(&c.id).join("merged");
        let r = berth_engine::spec::users::resolve(&rootfs, u, &[])?;
        process.set_user(
            UserBuilder::default()
                .uid(r.uid)
                .gid(r.gid)
                .additional_gids(r.additional_gids)
                .build()?,
        );
    }
    if a.privileged {
        let caps: Vec<oci_spec::runtime::Capability> = berth_engine::security::all_caps()
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        let set: oci_spec::runtime::Capabilities = caps.into_iter().collect();
        let mut pc = process.capabilities().clone().unwrap_or_default();
        pc.set_bounding(Some(set.clone()));
        pc.set_effective(Some(set.clone()));
        pc.set_permitted(Some(set));
        process.set_capabilities(Some(pc));
    }
    if !a.interactive || a.detach {
        // The process inherits our fd 0; without -i Docker gives it no stdin, so a
        // `cat` must see EOF rather than consume the caller's input.
        let null = std::fs::File::open("/dev/null").map_err(|e| Failed::engine(e.into()))?;
        rustix::stdio::dup2_stdin(&null).map_err(|e| Failed::engine(e.into()))?;
    }
    let done = exec_in(&ExecOptions {
        root: engine.layout().runtime_root(),
        id: c.id.clone(),
        process,
        console_socket: None,
        pid_file: None,
        preserve_fds: 0,
    })
    .map_err(|e| classify(e.to_string()))?;
    if a.detach {
        if let Some(master) = done.pty_master {
            hold_tty(master)?;
        }
        return Ok(0);
    }
    Ok(berth_runtime::supervise::wait_foreground(
        done.pid,
        done.pty_master,
    )?)
}

/// A detached `exec -t` has a terminal that no client reads: without a reader its
/// process would block once the terminal's buffer filled, and it would get a hangup
/// when this process exits and closes the master. A `berth container drain-tty` of
/// its own (in a process group of its own, outliving this command) holds the master
/// and discards the output, as Docker's daemon does for a detached exec.
fn hold_tty(master: std::os::fd::OwnedFd) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt as _;
    use std::process::{Command, Stdio};
    // This process runs from a protected (detached, read-only) copy of the binary,
    // which has no path of its own: /proc/self/exe reaches it.
    Command::new("/proc/self/exe")
        .args(["container", "drain-tty"])
        .stdin(Stdio::from(master))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the reader of the detached exec's terminal")?;
    Ok(())
}

/// `berth container drain-tty`: reads stdin until the other side has closed (EOF, or
/// EIO from a terminal master whose process has exited).
pub fn drain_tty() -> anyhow::Result<i32> {
    use std::io::Read as _;
    let mut buf = vec![0u8; 64 << 10];
    let mut input = std::io::stdin().lock();
    loop {
        match input.read(&mut buf) {
            Ok(0) => return Ok(0),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(0),
        }
    }
}
