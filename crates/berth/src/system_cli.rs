//! `system df`: disk usage by images, containers, volumes and build cache.

use std::path::PathBuf;

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
    }
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
