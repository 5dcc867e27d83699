//! `volume create|ls|inspect|rm|prune`.

use std::path::PathBuf;

use berth_engine::volumes;
use serde_json::json;

use super::open_engine;
use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Subcommand)]
pub enum VolumeCmd {
    /// Create a volume.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes.
    Inspect(InspectArgs),
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused volumes (anonymous ones; all unused with -a).
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Volume name (random when omitted).
    name: Option<String>,
    /// Volume driver (only local).
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume.
    #[arg(long)]
    label: Vec<String>,
    /// Driver options.
    #[arg(short, long)]
    opt: Vec<String>,
}

#[derive(clap::Args)]
pub struct LsArgs {
    /// Only display volume names.
    #[arg(short, long)]
    quiet: bool,
    /// Filter: dangling=true|false, name=NAME, label=KEY[=VALUE].
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    names: Vec<String>,
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

fn kv(items: &[String]) -> std::collections::BTreeMap<String, String> {
    items
        .iter()
        .map(|i| {
            let (k, v) = i.split_once('=').unwrap_or((i, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

pub fn run(
    cmd: VolumeCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let db = engine.db();
    let vdir = engine.layout().volumes_dir();
    match cmd {
        VolumeCmd::Create(a) => {
            if a.driver != "local" {
                anyhow::bail!(
                    "volume driver {:?} is not available: berth has the local driver",
                    a.driver
                );
            }
            let v = volumes::create(db, &vdir, a.name.as_deref(), kv(&a.label), kv(&a.opt))?;
            println!("{}", v.name);
            Ok(0)
        }
        VolumeCmd::Ls(a) => {
            let mut list = volumes::list(db, &vdir)?;
            for f in &a.filter {
                let (k, v) = f.split_once('=').unwrap_or((f, ""));
                match k {
                    "dangling" => {
                        let want = matches!(v, "true" | "1");
                        let mut keep = Vec::new();
                        for vol in list {
                            if volumes::users(db, &vol.name)?.is_empty() == want {
                                keep.push(vol);
                            }
                        }
                        list = keep;
                    }
                    "name" => list.retain(|x| x.name.contains(v)),
                    "label" => list.retain(|x| match v.split_once('=') {
                        Some((lk, lv)) => x.labels.get(lk).is_some_and(|y| y == lv),
                        None => x.labels.contains_key(v),
                    }),
                    "driver" => list.retain(|x| x.driver == v),
                    _ => anyhow::bail!("invalid filter {k:?}: use dangling, name, label or driver"),
                }
            }
            if a.quiet {
                for v in &list {
                    println!("{}", v.name);
                }
                return Ok(0);
            }
            let items: Vec<_> = list
                .iter()
                .map(|v| json!({"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint,
                                "Scope": v.scope, "Labels": v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect::<Vec<_>>().join(",")}))
                .collect();
            let format = ListFormat::parse(a.format.as_deref());
            if let ListFormat::Default = format {
                let mut rows = vec!["DRIVER\tVOLUME NAME".to_string()];
                for v in &list {
                    rows.push(format!("{}\t{}", v.driver, v.name));
                }
                print!("{}", align(&rows));
                return Ok(0);
            }
            print_list(&format, &items, &[("Name", "VOLUME NAME")])?;
            Ok(0)
        }
        VolumeCmd::Inspect(a) => {
            let mut out = Vec::new();
            let mut failed = false;
            for n in &a.names {
                match volumes::get(db, &vdir, n) {
                    Ok(v) => out.push(serde_json::to_value(&v)?),
                    Err(e) => {
                        eprintln!("Error: {e}");
                        failed = true;
                    }
                }
            }
            crate::format::print_inspect(&out, a.format.as_deref())?;
            Ok(i32::from(failed))
        }
        VolumeCmd::Rm(a) => {
            let mut failed = false;
            for n in &a.names {
                match volumes::remove(db, &vdir, n, a.force) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        failed = true;
                    }
                }
            }
            Ok(i32::from(failed))
        }
        VolumeCmd::Prune(a) => {
            let what = if a.all {
                "This will remove all local volumes not used by at least one container."
            } else {
                "This will remove anonymous local volumes not used by at least one container."
            };
            if !a.force && !crate::confirm::confirm(what) {
                return Ok(0);
            }
            let (removed, freed) = volumes::prune(db, &vdir, a.all)?;
            if !removed.is_empty() {
                println!("Deleted Volumes:");
                for n in &removed {
                    println!("{n}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", human::size(freed));
            Ok(0)
        }
    }
}
