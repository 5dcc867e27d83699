//! `tag`, `rmi` / `image rm`, `image prune`.

use std::path::PathBuf;

use anyhow::bail;
use berth_image::reference::{familiar, split_tag};
use berth_image::store::Removal;
use berth_image::ImageRef;

use crate::human;

#[derive(clap::Args)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    source: String,
    /// TARGET_IMAGE[:TAG]
    target: String,
}

#[derive(clap::Args)]
pub struct RmiArgs {
    #[arg(required = true)]
    images: Vec<String>,
    /// Force removal of the image (all its tags).
    #[arg(short, long)]
    force: bool,
    /// Accepted for Docker compatibility (berth keeps no untagged parents).
    #[arg(long)]
    no_prune: bool,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Remove all images not used by a container, not just dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Accepted for Docker compatibility: only dangling=true is supported.
    #[arg(long)]
    filter: Vec<String>,
}

fn show(name: &str) -> String {
    if let Some((repo, digest)) = name.split_once('@') {
        return format!("{}@{digest}", familiar(repo));
    }
    let (repo, tag) = split_tag(name);
    format!("{}:{tag}", familiar(repo))
}

pub fn tag(a: TagArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let img = store.resolve(&a.source)?;
    let target = ImageRef::parse(&a.target)?;
    store.tag(&img, &target)?;
    Ok(0)
}

pub fn rmi(a: RmiArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let used = super::images_in_use(&store)?;
    let in_use = |id: &str| used.contains(id);
    let mut failed = false;
    for name in &a.images {
        match store.remove(name, a.force, &in_use) {
            Ok(removals) => {
                for r in removals {
                    match r {
                        Removal::Untagged(t) => println!("Untagged: {}", show(&t)),
                        Removal::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("Error response from berth: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub fn prune(a: PruneArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    for f in &a.filter {
        if f != "dangling=true" {
            bail!("filter {f:?} is not supported by image prune yet");
        }
    }
    if !a.force
        && !crate::confirm::confirm(&format!(
            "This will remove all {} images.",
            if a.all {
                "images without at least one container associated to them"
            } else {
                "dangling"
            }
        ))
    {
        return Ok(0);
    }
    let store = super::open_store(root)?;
    let used = super::images_in_use(&store)?;
    let (removed, freed) = store.prune(a.all, &|id: &str| used.contains(id))?;
    if !removed.is_empty() {
        println!("Deleted Images:");
        for r in &removed {
            match r {
                Removal::Untagged(t) => println!("untagged: {}", show(t)),
                Removal::Deleted(id) => println!("deleted: {id}"),
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", human::size(freed));
    Ok(0)
}
