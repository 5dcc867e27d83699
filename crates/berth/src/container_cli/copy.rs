//! `cp` (either direction; `-` for a tar stream) and `export`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::open_engine;

#[derive(clap::Args)]
pub struct CpArgs {
    /// Archive mode: keep the source's uid/gid when copying into a container.
    #[arg(short, long)]
    archive: bool,
    /// Always follow symbolic links in SRC_PATH: copy what a link points to (inside
    /// the container, for a container path) instead of the link itself.
    #[arg(short = 'L', long)]
    follow_link: bool,
    /// Suppress progress output.
    #[arg(short, long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or a host path ("-" for a tar stream on stdin).
    src: String,
    /// CONTAINER:DEST_PATH or a host path ("-" for a tar stream on stdout).
    dest: String,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

/// `name:path` names a container path; a path with a `/` before the first `:` is a
/// host path, as Docker decides.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty()).then_some((c, if p.is_empty() { "/" } else { p }))
}

pub fn cp(a: CpArgs, root: &Option<PathBuf>, runroot: &Option<PathBuf>) -> anyhow::Result<i32> {
    let _ = a.quiet;
    let engine = open_engine(root, runroot)?;
    match (split(&a.src), split(&a.dest)) {
        (Some((c, p)), None) => {
            let out = std::io::stdout().lock();
            engine.copy_from(c, p, &a.dest, out, a.follow_link)?;
        }
        (None, Some((c, p))) => {
            let input = std::io::stdin().lock();
            engine.copy_to(c, &a.src, p, input, a.archive, a.follow_link)?;
        }
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source: CONTAINER:PATH"),
    }
    Ok(0)
}

pub fn export(
    a: ExportArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    let engine = open_engine(root, runroot)?;
    match &a.output {
        Some(p) => {
            let f =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            let mut w = std::io::BufWriter::new(f);
            engine.export(&a.container, &mut w)?;
            w.flush()?;
        }
        None => {
            let out = std::io::stdout();
            if std::io::IsTerminal::is_terminal(&out) {
                bail!("cowardly refusing to write a tar archive to a terminal: use -o FILE or redirect stdout");
            }
            let mut w = std::io::BufWriter::new(out.lock());
            engine.export(&a.container, &mut w)?;
            w.flush()?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths() {
        assert_eq!(split("web:/etc"), Some(("web", "/etc")));
        assert_eq!(split("web:"), Some(("web", "/")));
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("./x:y"), None);
        assert_eq!(split("file"), None);
    }
}
