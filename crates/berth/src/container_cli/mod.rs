//! Container commands with Docker's flags, output and exit codes: run, create, start,
//! stop, restart, kill, rm, ps, logs, exec, attach, wait, inspect, top, pause,
//! unpause, rename, container prune, and volumes.

pub mod attach;
pub mod attach_cmd;
pub mod changes;
pub mod copy;
pub mod create_args;
pub mod exec;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod ps;
pub mod run;
mod sigproxy;
pub mod stats;
pub mod update;
pub mod volume;

use std::fmt;
use std::path::PathBuf;

use berth_engine::Engine;
use clap::Subcommand;

/// Opens the engine on `--root` (else `BERTH_ROOT`, else the default) and
/// `--runroot` (else `BERTH_RUNROOT`).
pub fn open_engine(root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<Engine> {
    let root = root
        .clone()
        .or_else(|| std::env::var_os("BERTH_ROOT").map(PathBuf::from))
        .unwrap_or_else(berth_store::default_root);
    let runroot = runroot
        .clone()
        .or_else(|| std::env::var_os("BERTH_RUNROOT").map(PathBuf::from));
    Ok(Engine::open(&root, runroot.as_deref())?)
}

/// An error with the exit status Docker gives it: 125 when berth itself failed, 126
/// when the command cannot be executed, 127 when it is not found.
#[derive(Debug)]
pub struct Failed {
    pub code: i32,
    pub message: String,
}

impl Failed {
    pub fn with_code(code: i32, message: String) -> anyhow::Error {
        anyhow::Error::new(Failed { code, message })
    }

    pub fn engine(e: anyhow::Error) -> anyhow::Error {
        if e.downcast_ref::<Failed>().is_some() {
            return e;
        }
        anyhow::Error::new(Failed {
            code: 125,
            message: crate::errors::render(&e),
        })
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

#[derive(Subcommand)]
pub enum ContainerCmd {
    /// Create and run a new container from an image.
    Run(run::RunArgs),
    /// Create a new container.
    Create(run::CreateCmdArgs),
    /// Start one or more stopped containers.
    Start(run::StartArgs),
    /// Stop one or more running containers.
    Stop(lifecycle::StopArgs),
    /// Restart one or more containers.
    Restart(lifecycle::StopArgs),
    /// Kill one or more running containers.
    Kill(lifecycle::KillArgs),
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm(lifecycle::RmArgs),
    /// List containers.
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(ps::PsArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(attach_cmd::AttachArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(lifecycle::NamesArgs),
    /// Display detailed information on one or more containers.
    Inspect(inspect::InspectArgs),
    /// Pause all processes within one or more containers.
    Pause(lifecycle::NamesArgs),
    /// Unpause all processes within one or more containers.
    Unpause(lifecycle::NamesArgs),
    /// Rename a container.
    Rename(lifecycle::RenameArgs),
    /// Display the running processes of a container.
    Top(inspect::TopArgs),
    /// Remove all stopped containers.
    Prune(lifecycle::PruneArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(copy::CpArgs),
    /// Export a container's filesystem as a tar archive.
    Export(copy::ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(changes::DiffArgs),
    /// Create a new image from a container's changes.
    Commit(changes::CommitArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers.
    Update(update::UpdateArgs),
    /// List port mappings or a specific mapping for the container.
    Port(update::PortArgs),
    /// (internal) Run by a container's monitor when the container has exited for good.
    #[command(hide = true)]
    Cleanup { id: String },
    /// (internal) Holds the terminal of a detached `exec -t`: reads and discards what
    /// the process writes (stdin is the terminal's master side) until it has gone.
    #[command(hide = true)]
    DrainTty,
}

pub fn run(
    cmd: ContainerCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    match cmd {
        ContainerCmd::Run(a) => run::run(a, root, runroot),
        ContainerCmd::Create(a) => run::create(a, root, runroot),
        ContainerCmd::Start(a) => run::start(a, root, runroot),
        ContainerCmd::Stop(a) => lifecycle::stop(a, root, runroot),
        ContainerCmd::Restart(a) => lifecycle::restart(a, root, runroot),
        ContainerCmd::Kill(a) => lifecycle::kill(a, root, runroot),
        ContainerCmd::Rm(a) => lifecycle::rm(a, root, runroot),
        ContainerCmd::Ls(a) => ps::ps(a, root, runroot),
        ContainerCmd::Logs(a) => logs::logs(a, root, runroot),
        ContainerCmd::Exec(a) => exec::exec(a, root, runroot),
        ContainerCmd::Attach(a) => attach_cmd::attach(a, root, runroot),
        ContainerCmd::Wait(a) => lifecycle::wait(a, root, runroot),
        ContainerCmd::Inspect(a) => inspect::inspect(a, root, runroot),
        ContainerCmd::Pause(a) => lifecycle::pause(a, root, runroot),
        ContainerCmd::Unpause(a) => lifecycle::unpause(a, root, runroot),
        ContainerCmd::Rename(a) => lifecycle::rename(a, root, runroot),
        ContainerCmd::Top(a) => inspect::top(a, root, runroot),
        ContainerCmd::Prune(a) => lifecycle::prune(a, root, runroot),
        ContainerCmd::Cp(a) => copy::cp(a, root, runroot),
        ContainerCmd::Export(a) => copy::export(a, root, runroot),
        ContainerCmd::Diff(a) => changes::diff(a, root, runroot),
        ContainerCmd::Commit(a) => changes::commit(a, root, runroot),
        ContainerCmd::Stats(a) => stats::stats(a, root, runroot),
        ContainerCmd::Update(a) => update::update(a, root, runroot),
        ContainerCmd::Port(a) => update::port(a, root, runroot),
        ContainerCmd::Cleanup { id } => {
            open_engine(root, runroot)?.cleanup(&id)?;
            Ok(0)
        }
        ContainerCmd::DrainTty => exec::drain_tty(),
    }
}
