//! stop, restart, kill, rm, wait, pause, unpause, rename, container prune. Each takes
//! several containers where Docker does, prints each name as it succeeds, reports
//! each failure and exits 1 if any failed.

use std::path::PathBuf;

use berth_engine::Engine;

use super::open_engine;

#[derive(clap::Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Signal to send to the container.
    #[arg(short, long)]
    signal: Option<String>,
    /// Seconds to wait before killing the container.
    #[arg(short, long, alias = "time", allow_hyphen_values = true)]
    timeout: Option<i64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    force: bool,
    /// Remove anonymous volumes associated with the container.
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(clap::Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn each(
    names: &[String],
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
    f: impl Fn(&Engine, &str) -> anyhow::Result<Option<String>>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let mut failed = false;
    for n in names {
        match f(&engine, n) {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => {
                failed = true;
                eprintln!("Error response from daemon: {}", crate::errors::render(&e));
            }
        }
    }
    Ok(i32::from(failed))
}

pub fn stop(a: StopArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.stop(n, a.signal.as_deref(), a.timeout)?;
        Ok(Some(n.to_string()))
    })
}

pub fn restart(
    a: StopArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.restart(n, a.timeout)?;
        Ok(Some(n.to_string()))
    })
}

pub fn kill(a: KillArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.kill(n, Some(&a.signal))?;
        Ok(Some(n.to_string()))
    })
}

pub fn rm(a: RmArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.remove(n, a.force, a.volumes)?;
        Ok(Some(n.to_string()))
    })
}

pub fn wait(
    a: NamesArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        let st = e.wait(n)?;
        Ok(Some(st.exit_code.to_string()))
    })
}

pub fn pause(
    a: NamesArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.pause(n)?;
        Ok(Some(n.to_string()))
    })
}

pub fn unpause(
    a: NamesArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    each(&a.containers, root, runroot, |e, n| {
        e.unpause(n)?;
        Ok(Some(n.to_string()))
    })
}

pub fn rename(
    a: RenameArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    engine.rename(&a.container, &a.new_name)?;
    Ok(0)
}

pub fn prune(
    a: PruneArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    if !a.force && !crate::confirm::confirm("This will remove all stopped containers.") {
        return Ok(0);
    }
    let engine = open_engine(root, runroot)?;
    let removed = engine.prune()?;
    if !removed.is_empty() {
        println!("Deleted Containers:");
        for id in &removed {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(0)
}
