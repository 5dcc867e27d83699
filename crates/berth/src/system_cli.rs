//! `system df` (disk usage by images, containers, volumes and build cache), `system
//! prune`, `system reset` and `system boot`.

use std::path::PathBuf;

use anyhow::Context;
use serde_json::{json, Value};

use crate::format::{align, print_list, ListFormat};
use crate::human;

#[derive(clap::Subcommand)]
pub enum SystemCmd {
    /// Show disk usage.
    Df(DfArgs),
    /// Start the containers whose restart policy asks for it after a host boot
    /// (`always`, and `unless-stopped` ones not stopped by hand). Run by
    /// contrib/berth-boot.service.
    Boot,
    /// Remove stopped containers, networks no container uses, dangling images (all
    /// unused ones with -a) and, with --volumes, anonymous volumes no container uses;
    /// also release the addresses and rules of containers that no longer run.
    Prune(PruneArgs),
    /// Remove everything of this store: all containers (running ones are killed),
    /// networks including the default one and its bridge, volumes, images and the
    /// store's files, like Podman's `system reset`.
    Reset(ResetArgs),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Also prune anonymous volumes.
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct ResetArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short, long)]
    verbose: bool,
    /// Format output: table, json, or a Go template.
    #[arg(long)]
    format: Option<String>,
}

pub fn run(
    cmd: SystemCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    match cmd {
        SystemCmd::Df(a) => df(a, root),
        SystemCmd::Boot => boot(root, runroot),
        SystemCmd::Prune(a) => prune(a, root, runroot),
        SystemCmd::Reset(a) => reset(a, root, runroot),
    }
}

fn prune(a: PruneArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let mut what = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if a.volumes {
        what.push("all anonymous volumes not used by at least one container");
    }
    what.push(if a.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    let list: String = what.iter().map(|w| format!("\n  - {w}")).collect();
    if !a.force && !crate::confirm::confirm(&format!("This will remove:{list}")) {
        return Ok(0);
    }
    let engine = crate::container_cli::open_engine(root, runroot)?;
    let section = |title: &str, items: &[String]| {
        if !items.is_empty() {
            println!("{title}:");
            for i in items {
                println!("{i}");
            }
            println!();
        }
    };
    section("Deleted Containers", &engine.prune()?);
    engine.release_stale_networking()?;
    let nets = berth_network::prune(
        engine.db(),
        &engine.layout().run_root,
        &crate::network_cli::referenced(&engine)?,
    )?;
    section(
        "Deleted Networks",
        &nets.into_iter().map(|n| n.name).collect::<Vec<_>>(),
    );
    let mut freed = 0;
    if a.volumes {
        let (vols, f) =
            berth_engine::volumes::prune(engine.db(), &engine.layout().volumes_dir(), false)?;
        freed += f;
        section("Deleted Volumes", &vols);
    }
    let used: std::collections::HashSet<String> =
        berth_engine::records::images_in_use(engine.db())?
            .into_iter()
            .collect();
    let (removed, f) = engine
        .images()
        .prune(a.all, &|id: &str| used.contains(id))?;
    freed += f;
    let images: Vec<String> = removed
        .iter()
        .map(|r| match r {
            berth_image::store::Removal::Untagged(t) => format!("untagged: {t}"),
            berth_image::store::Removal::Deleted(id) => format!("deleted: {id}"),
        })
        .collect();
    section("Deleted Images", &images);
    println!("Total reclaimed space: {}", human::size(freed));
    Ok(0)
}

fn reset(a: ResetArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    if !a.force
        && !crate::confirm::confirm(
            "This will remove all containers, networks, volumes and images of this store, \
             and its files.",
        )
    {
        return Ok(0);
    }
    let engine = crate::container_cli::open_engine(root, runroot)?;
    for c in engine.list()? {
        engine
            .remove(&c.id, true, true)
            .with_context(|| format!("removing container {}", c.name))?;
    }
    engine.release_stale_networking()?;
    for n in berth_network::records::list(engine.db())? {
        berth_network::remove(engine.db(), &engine.layout().run_root, &n.id)
            .with_context(|| format!("removing network {}", n.name))?;
    }
    let store_root = engine.layout().store_root.clone();
    let run_root = engine.layout().run_root.clone();
    drop(engine);
    // Mounts a crash or `image mount` left must go before the files.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = berth_cgroups::mountinfo::mount_points(&info)
        .into_iter()
        .filter(|m| m.starts_with(&run_root) || m.starts_with(&store_root))
        .collect();
    // Innermost first.
    mounts.reverse();
    for m in mounts {
        let _ = rustix::mount::unmount(m.as_path(), rustix::mount::UnmountFlags::DETACH);
    }
    for dir in [&run_root, &store_root] {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.display()));
            }
            _ => {}
        }
    }
    Ok(0)
}

fn boot(root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let engine = crate::container_cli::open_engine(root, runroot)?;
    let mut failed = false;
    for (name, r) in engine.boot()? {
        match r {
            Ok(()) => println!("started {name}"),
            Err(e) => {
                failed = true;
                eprintln!("starting {name}: {e}");
            }
        }
    }
    Ok(i32::from(failed))
}

fn pct(part: u64, total: u64) -> String {
    (part * 100)
        .checked_div(total)
        .map(|p| format!(" ({p}%)"))
        .unwrap_or_default()
}

fn df(a: DfArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = crate::image_cli::open_store(root)?;
    let images = store.list()?;
    // Shared layers count once: the sum over distinct layers in the store.
    let size = store.disk_usage_layers()?;
    let used = crate::image_cli::images_in_use(&store)?;
    let active: Vec<_> = images.iter().filter(|i| used.contains(&i.id)).collect();
    let mut active_size = 0;
    for i in &active {
        // Kept compressed layer blobs are in `size` too.
        active_size += store.disk_size(i)?;
    }
    let reclaimable = size.saturating_sub(active_size.min(size));
    // Containers, volumes and the build cache arrive with later berth features; until
    // then there is nothing of theirs on disk to report.
    let rows = [
        ("Images", images.len(), active.len(), size, reclaimable),
        ("Containers", 0, 0, 0, 0),
        ("Local Volumes", 0, 0, 0, 0),
        ("Build Cache", 0, 0, 0, 0),
    ];
    let items: Vec<Value> = rows
        .iter()
        .map(|(t, total, act, sz, rec)| {
            json!({"Type": t, "TotalCount": total, "Active": act, "Size": human::size(*sz),
                   "Reclaimable": format!("{}{}", human::size(*rec), pct(*rec, *sz))})
        })
        .collect();
    let format = ListFormat::parse(a.format.as_deref());
    if let ListFormat::Default = format {
        let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];
        for v in &items {
            lines.push(format!(
                "{}\t{}\t{}\t{}\t{}",
                v["Type"].as_str().unwrap_or(""),
                v["TotalCount"],
                v["Active"],
                v["Size"].as_str().unwrap_or(""),
                v["Reclaimable"].as_str().unwrap_or("")
            ));
        }
        print!("{}", align(&lines));
        if a.verbose {
            println!("\nImages space usage:\n");
            let mut lines = vec![
                "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS"
                    .to_string(),
            ];
            for i in &images {
                let unique = store.unique_size(i)?;
                let (repo, tag) = i
                    .tags
                    .first()
                    .map(|t| {
                        let (r, tg) = berth_image::reference::split_tag(t);
                        (berth_image::reference::familiar(r), tg.to_string())
                    })
                    .unwrap_or(("<none>".into(), "<none>".into()));
                lines.push(format!(
                    "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t0",
                    i.short_id(),
                    human::ago(i.created.as_deref()),
                    human::size(i.size),
                    human::size(i.size - unique.min(i.size)),
                    human::size(unique)
                ));
            }
            print!("{}", align(&lines));
        }
        return Ok(0);
    }
    print_list(&format, &items, &[("TotalCount", "TOTAL")])?;
    Ok(0)
}
