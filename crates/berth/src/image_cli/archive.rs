//! `save`, `load`, `import`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_image::archive::import::ImportOptions;
use berth_image::archive::save::{Format, SaveItem};
use berth_image::reference::{familiar, split_tag};
use berth_image::ImageRef;

#[derive(clap::Args)]
pub struct SaveArgs {
    #[arg(required = true)]
    images: Vec<String>,
    /// Write to a file instead of STDOUT.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, default_value = "docker-archive", value_parser = ["docker-archive", "oci-archive"])]
    format: String,
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Read from a tar archive file (plain, gzip or zstd) or an OCI layout directory instead of STDIN.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Root filesystem tarball (plain, gzip or zstd), or - for STDIN.
    file: String,
    /// REPOSITORY[:TAG] for the new image.
    reference: Option<String>,
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).
    #[arg(short, long)]
    change: Vec<String>,
    /// Set a commit message for the imported image.
    #[arg(short, long)]
    message: Option<String>,
    /// Accepted for Docker compatibility; berth imports for the host platform.
    #[arg(long)]
    platform: Option<String>,
}

pub fn save(a: SaveArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let mut items: Vec<SaveItem> = Vec::new();
    for name in &a.images {
        let img = store.resolve(name)?;
        // A name that is a tag saves that tag; an id saves every tag of the image.
        let names = match ImageRef::parse(name).ok().and_then(|r| r.tagged()) {
            Some(t) if img.tags.contains(&t) => vec![t],
            _ => img.tags.clone(),
        };
        if let Some(existing) = items.iter_mut().find(|i| i.image.id == img.id) {
            for n in names {
                if !existing.names.contains(&n) {
                    existing.names.push(n);
                }
            }
        } else {
            items.push(SaveItem { image: img, names });
        }
    }
    let format = if a.format == "oci-archive" {
        Format::OciArchive
    } else {
        Format::DockerArchive
    };
    match &a.output {
        Some(path) => {
            let tmp = path.with_extension("berth-partial");
            let f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let w = std::io::BufWriter::with_capacity(1 << 20, f);
            if let Err(e) = berth_image::archive::save::save(&store, &items, format, w) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.into());
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let out = std::io::stdout().lock();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, out);
            berth_image::archive::save::save(&store, &items, format, &mut w)?;
            w.flush()?;
        }
    }
    Ok(0)
}

pub fn load(a: LoadArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let input = a.input.clone().unwrap_or_else(|| PathBuf::from("-"));
    if a.input.is_none() && std::io::stdin().is_terminal() {
        bail!("requested load from stdin, but stdin is empty: use -i FILE or pipe an archive");
    }
    let loaded = berth_image::archive::load::load(&store, &input)?;
    if !a.quiet {
        for l in loaded {
            if l.names.is_empty() {
                println!("Loaded image ID: {}", l.image.id);
            }
            for n in &l.names {
                let (repo, tag) = split_tag(n);
                println!("Loaded image: {}:{tag}", familiar(repo));
            }
        }
    }
    Ok(0)
}

pub fn import(a: ImportArgs, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = super::open_store(root)?;
    let tag = a.reference.as_deref().map(ImageRef::parse).transpose()?;
    let opts = ImportOptions {
        tag,
        changes: &a.change,
        message: a.message.as_deref(),
    };
    let img = if a.file == "-" {
        berth_image::archive::import::import(&store, std::io::stdin().lock(), &opts)?
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        berth_image::archive::import::import(
            &store,
            std::io::BufReader::with_capacity(1 << 20, f),
            &opts,
        )?
    };
    println!("{}", img.id);
    Ok(0)
}
