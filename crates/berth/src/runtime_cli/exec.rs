//! `exec`: a process given inline (`exec ID cmd args...`) or as process.json (`-p`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_runtime::exec::{exec as exec_in, load_process, ExecOptions};
use berth_runtime::lifecycle::Container;
use oci_spec::runtime::{Capability, Process};

use super::Globals;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Container id.
    id: String,
    /// Command and arguments to run (unless -p is given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    /// Read the process (runtime-spec `process` object) from this JSON file ("-" for stdin).
    #[arg(short, long, value_name = "FILE")]
    process: Option<PathBuf>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket that receives the pty master when -t is given.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(short, long)]
    detach: bool,
    /// Write the process's pid to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// User to run as: UID[:GID].
    #[arg(short, long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Additional group ids; repeatable.
    #[arg(short = 'g', long, value_name = "GID")]
    additional_gids: Vec<u32>,
    /// Add a capability (CAP_NET_ADMIN or NET_ADMIN); repeatable.
    #[arg(short, long, value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Pass this many extra descriptors (from fd 3 on).
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: u32,
    /// Accepted for runc compatibility (no SELinux/AppArmor support).
    #[arg(long, hide = true)]
    process_label: Option<String>,
    #[arg(long, hide = true)]
    apparmor: Option<String>,
}

fn build_process(a: &ExecArgs, base: &Process) -> anyhow::Result<Process> {
    if let Some(p) = &a.process {
        return Ok(load_process(p)?);
    }
    if a.command.is_empty() {
        bail!("exec needs a command: berth runtime exec ID COMMAND [ARG...] (or -p process.json)");
    }
    let mut p = base.clone();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    let mut env = base.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u.parse()?, g.parse()?),
            None => (
                u.parse()
                    .with_context(|| format!("--user {u:?}: expected UID[:GID]"))?,
                0,
            ),
        };
        p.user_mut().set_uid(uid);
        p.user_mut().set_gid(gid);
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let parsed = berth_runtime::capabilities::parse(name)?;
            let c: Capability =
                serde_json::from_value(serde_json::Value::String(parsed.to_string()))
                    .with_context(|| format!("capability {name}"))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(c);
                Some(set)
            };
            let (b, e, pm) = (
                add(caps.bounding()),
                add(caps.effective()),
                add(caps.permitted()),
            );
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}

pub fn exec(a: ExecArgs, g: &Globals) -> anyhow::Result<i32> {
    berth_runtime::sealed::ensure_sealed()?;
    let container = Container::load(&g.root, &a.id)?;
    let base = container
        .state
        .config
        .process()
        .clone()
        .context("the container's config has no process")?;
    let process = build_process(&a, &base)?;
    if a.detach && process.terminal() == Some(true) && a.console_socket.is_none() {
        bail!("cannot allocate a terminal for a detached exec without --console-socket");
    }
    let done = exec_in(&ExecOptions {
        root: g.root.clone(),
        id: a.id.clone(),
        process,
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
    })?;
    if a.detach {
        return Ok(0);
    }
    Ok(berth_runtime::supervise::wait_foreground(
        done.pid,
        done.pty_master,
    )?)
}
