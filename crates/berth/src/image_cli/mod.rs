//! Image commands with Docker's flags and output: images, image inspect, history, tag,
//! rmi, image prune, save, load, import, and podman-style image mount/unmount.

pub mod archive;
pub mod inspect;
pub mod list;
pub mod mount;
pub mod remove;

use std::path::PathBuf;

use berth_image::ImageStore;
use clap::Subcommand;

/// Where the store lives: `--root`, else `BERTH_ROOT`, else the default for this user.
pub fn open_store(root: &Option<PathBuf>) -> anyhow::Result<ImageStore> {
    let root = root
        .clone()
        .or_else(|| std::env::var_os("BERTH_ROOT").map(PathBuf::from))
        .unwrap_or_else(berth_store::default_root);
    Ok(ImageStore::open(&root)?)
}

/// Ids of the images some container (running or not) was created from: Docker
/// refuses to remove those without `-f`, and `image prune` keeps them.
pub fn images_in_use(store: &ImageStore) -> anyhow::Result<std::collections::HashSet<String>> {
    Ok(berth_engine::records::images_in_use(store.store().db())?
        .into_iter()
        .collect())
}

#[derive(Subcommand)]
pub enum ImageCmd {
    /// List images.
    #[command(visible_alias = "list")]
    Ls(list::ImagesArgs),
    /// Show low-level information on images as JSON.
    Inspect(inspect::InspectArgs),
    /// Show the history of an image.
    History(inspect::HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(remove::TagArgs),
    /// Remove one or more images.
    #[command(visible_alias = "remove")]
    Rm(remove::RmiArgs),
    /// Remove unused images.
    Prune(remove::PruneArgs),
    /// Save images to a tar archive (streamed to stdout by default).
    Save(archive::SaveArgs),
    /// Load images from a tar archive or STDIN.
    Load(archive::LoadArgs),
    /// Import a root filesystem tarball as an image.
    Import(archive::ImportArgs),
    /// Mount an image's root filesystem (read-write snapshot) and print the path.
    Mount(mount::MountArgs),
    /// Build an image from a Dockerfile (same as `berth build`).
    Build(Box<crate::build_cli::BuildArgs>),
    /// Unmount an image mounted with `image mount`.
    #[command(visible_alias = "umount")]
    Unmount(mount::MountArgs),
}

pub fn run(
    cmd: ImageCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    match cmd {
        ImageCmd::Build(a) => crate::build_cli::build(*a, root, runroot),
        ImageCmd::Ls(a) => list::images(a, root),
        ImageCmd::Inspect(a) => inspect::inspect(a, root),
        ImageCmd::History(a) => inspect::history(a, root),
        ImageCmd::Tag(a) => remove::tag(a, root),
        ImageCmd::Rm(a) => remove::rmi(a, root),
        ImageCmd::Prune(a) => remove::prune(a, root),
        ImageCmd::Save(a) => archive::save(a, root),
        ImageCmd::Load(a) => archive::load(a, root),
        ImageCmd::Import(a) => archive::import(a, root),
        ImageCmd::Mount(a) => mount::mount(a, root),
        ImageCmd::Unmount(a) => mount::unmount(a, root),
    }
}
