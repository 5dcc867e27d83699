//! create, start, run, state, kill, delete, pause, resume.

use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::create::{create as create_container, CreateOptions};
use berth_runtime::lifecycle::Container;

use super::Globals;

#[derive(clap::Args)]
pub struct IdArg {
    /// Container id.
    id: String,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Container id (unique under --root).
    id: String,
    /// Bundle directory holding config.json and the rootfs.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master (SCM_RIGHTS) when process.terminal is set.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Write the container init's pid to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Use chroot instead of pivot_root (for roots on ramfs).
    #[arg(long)]
    no_pivot: bool,
    /// Keep the caller's session keyring instead of creating a new one.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra descriptors (from fd 3 on) to the container process.
    #[arg(long, default_value_t = 0, value_name = "N")]
    preserve_fds: u32,
}

impl CreateArgs {
    fn options(&self, g: &Globals) -> CreateOptions {
        CreateOptions {
            root: g.root.clone(),
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
        }
    }
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    create: CreateArgs,
    /// Start the container and return without waiting for it.
    #[arg(short, long)]
    detach: bool,
    /// Keep the container after it exits (delete it later with `delete`).
    #[arg(long)]
    keep: bool,
    /// Accepted for runc compatibility.
    #[arg(long, hide = true)]
    no_subreaper: bool,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Container id.
    id: String,
    /// Signal name or number (TERM, SIGKILL, 9...).
    #[arg(default_value = "SIGTERM")]
    signal: String,
    /// Signal every process in the container, not only its init.
    #[arg(short, long)]
    all: bool,
}

#[derive(clap::Args)]
pub struct DeleteArgs {
    /// Container id.
    id: String,
    /// Kill a running container first; succeed if it does not exist.
    #[arg(short, long)]
    force: bool,
}

pub fn create(a: CreateArgs, g: &Globals) -> anyhow::Result<i32> {
    berth_runtime::sealed::ensure_sealed()?;
    create_container(&a.options(g))?;
    Ok(0)
}

pub fn start(a: IdArg, g: &Globals) -> anyhow::Result<i32> {
    Container::load(&g.root, &a.id)?.start()?;
    Ok(0)
}

pub fn run(a: RunArgs, g: &Globals) -> anyhow::Result<i32> {
    berth_runtime::sealed::ensure_sealed()?;
    Ok(berth_runtime::run::run(
        &a.create.options(g),
        a.detach,
        a.keep,
    )?)
}

pub fn state(a: IdArg, g: &Globals) -> anyhow::Result<i32> {
    println!("{}", Container::load(&g.root, &a.id)?.state_json()?);
    Ok(0)
}

pub fn kill(a: KillArgs, g: &Globals) -> anyhow::Result<i32> {
    let sig = berth_runtime::signal::parse(&a.signal)?;
    Container::load(&g.root, &a.id)?.kill(sig, a.all)?;
    Ok(0)
}

pub fn delete(a: DeleteArgs, g: &Globals) -> anyhow::Result<i32> {
    match Container::load(&g.root, &a.id) {
        Ok(c) => c
            .delete(a.force)
            .with_context(|| format!("deleting container \"{}\"", a.id))?,
        Err(berth_runtime::RuntimeError::NotFound(_)) if a.force => {}
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

pub fn pause(a: IdArg, g: &Globals) -> anyhow::Result<i32> {
    Container::load(&g.root, &a.id)?.pause()?;
    Ok(0)
}

pub fn resume(a: IdArg, g: &Globals) -> anyhow::Result<i32> {
    Container::load(&g.root, &a.id)?.resume()?;
    Ok(0)
}
