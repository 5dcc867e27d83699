//! `diff` and `commit`.

use std::path::PathBuf;

use berth_engine::commit::CommitOptions;
use berth_image::ImageRef;

use super::open_engine;

#[derive(clap::Args)]
pub struct DiffArgs {
    container: String,
}

#[derive(clap::Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    message: Option<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set)]
    pause: bool,
    container: String,
    /// REPOSITORY[:TAG] for the new image.
    repository: Option<String>,
}

pub fn diff(a: DiffArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    for (path, kind) in engine.changes(&a.container)? {
        println!("{} {path}", kind.letter());
    }
    Ok(0)
}

pub fn commit(
    a: CommitArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    let tag = a.repository.as_deref().map(ImageRef::parse).transpose()?;
    let img = engine.commit(
        &a.container,
        &CommitOptions {
            tag,
            changes: &a.change,
            message: a.message.as_deref(),
            author: a.author.as_deref(),
            pause: a.pause,
        },
    )?;
    println!("{}", img.id);
    Ok(0)
}
