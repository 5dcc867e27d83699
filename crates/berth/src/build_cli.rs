//! `build` (also `image build`) and `builder prune`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use berth_build::context::{BuildContext, DockerfileSpec};
use berth_build::exec::{self, BuildOptions, Progress, SecretSource};
use berth_image::ImageRef;

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); may be given several times.
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; `-` reads it from stdin).
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables (NAME=VALUE, or NAME to take it from the environment).
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use the cache when building the image.
    #[arg(long)]
    no_cache: bool,
    /// Always pull the base images (berth pulls missing ones anyway).
    #[arg(long)]
    pull: bool,
    /// Set metadata for the image (KEY=VALUE).
    #[arg(long)]
    label: Vec<String>,
    /// Write the image ID to the file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Output destination: type=image (the default), type=local,dest=DIR,
    /// type=tar,dest=FILE|-, type=oci|docker,dest=FILE|-; `-o DIR` and `-o -` for short.
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short, long)]
    quiet: bool,
    /// Secret to expose to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR.
    #[arg(long)]
    secret: Vec<String>,
    /// Networking mode for the RUN instructions: default, host or none.
    #[arg(long, default_value = "default")]
    network: String,
    /// Target platform (os/arch[/variant]); RUN steps for another architecture
    /// run through a binfmt_misc handler such as qemu-user-static
    #[arg(long)]
    platform: Option<String>,
    /// Type of progress output: auto (tty on a terminal, else plain), plain, tty.
    #[arg(long, default_value = "auto")]
    progress: String,
    /// Timestamp (seconds since the epoch) for the image and its files; default from
    /// SOURCE_DATE_EPOCH.
    #[arg(long)]
    source_date_epoch: Option<i64>,
    /// Export the build cache: type=local,dest=DIR or type=registry,ref=REF (or REF),
    /// with mode=min (the final image's steps, the default) or mode=max (every step).
    #[arg(long = "cache-to")]
    cache_to: Vec<String>,
    /// Import a build cache: type=local,src=DIR, type=registry,ref=REF, or REF; may be
    /// given several times.
    #[arg(long = "cache-from")]
    cache_from: Vec<String>,
    /// Build context: a directory, or `-` for a tar archive on stdin.
    path: String,
}

#[derive(clap::Subcommand)]
pub enum BuilderCmd {
    /// Remove the build cache.
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Accepted for Docker compatibility: berth's cache index has no internal/shared split.
    #[arg(short, long)]
    all: bool,
}

fn secrets(items: &[String]) -> anyhow::Result<BTreeMap<String, SecretSource>> {
    let mut m = BTreeMap::new();
    for s in items {
        let mut id = None;
        let mut src = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(SecretSource::File(PathBuf::from(v))),
                Some(("env", v)) => src = Some(SecretSource::Env(v.to_string())),
                Some(("type", "file" | "env")) => {}
                _ => bail!("invalid --secret {s:?}: use id=ID,src=FILE or id=ID,env=VAR"),
            }
        }
        let Some(id) = id else {
            bail!("invalid --secret {s:?}: it needs id=")
        };
        let src = src.unwrap_or_else(|| SecretSource::Env(id.clone()));
        m.insert(id, src);
    }
    Ok(m)
}

/// Whether `--progress` asks for the redrawing display: `tty`, or `auto` when
/// stderr is a terminal that can redraw.
fn redraw(progress: &str) -> bool {
    use std::io::IsTerminal;
    match progress {
        "tty" => true,
        "auto" => {
            std::io::stderr().is_terminal()
                && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
        }
        _ => false,
    }
}

pub fn build(
    a: BuildArgs,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    // Foreign platforms are checked when a RUN step needs to run their programs
    // (a build that only copies files needs no emulator).
    let platform = a
        .platform
        .as_deref()
        .map(berth_build::platform::Platform::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
    if !matches!(a.network.as_str(), "default" | "host" | "none") {
        bail!(
            "invalid --network {:?}: use default, host or none",
            a.network
        );
    }
    if !matches!(
        a.progress.as_str(),
        "auto" | "plain" | "tty" | "quiet" | "rawjson"
    ) {
        bail!(
            "invalid --progress {:?}: use auto, plain or tty",
            a.progress
        );
    }
    let mut build_args = BTreeMap::new();
    for b in &a.build_args {
        match b.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(b) {
                Ok(v) => build_args.insert(b.clone(), v),
                Err(_) => None,
            },
        };
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let tags = a
        .tags
        .iter()
        .map(|t| ImageRef::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let source_date_epoch = match a.source_date_epoch {
        Some(e) => Some(e),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(
                v.parse()
                    .with_context(|| format!("invalid SOURCE_DATE_EPOCH {v:?}"))?,
            ),
            _ => None,
        },
    };
    let output = match &a.output {
        Some(o) => crate::build_output::parse(o)?,
        None => crate::build_output::Output::Image,
    };
    if output == crate::build_output::Output::Tar(None) && a.quiet {
        bail!("-q and an output on stdout cannot share stdout");
    }
    let cache = crate::build_cache_cli::options(&a.cache_to, &a.cache_from)?;
    let opts = BuildOptions {
        tags,
        build_args,
        target: a.target.clone(),
        no_cache: a.no_cache,
        labels,
        network: a.network.clone(),
        secrets: secrets(&a.secret)?,
        source_date_epoch,
        cache,
        platform,
    };

    let engine = crate::container_cli::open_engine(root, runroot)?;
    let tmp_parent = engine.images().store().tmp_dir();
    std::fs::create_dir_all(&tmp_parent).ok();
    let spec = match a.file.as_deref() {
        None => DockerfileSpec::Default,
        Some("-") => {
            if a.path == "-" {
                bail!("-f - and a context on stdin cannot both read stdin");
            }
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .context("reading the Dockerfile from stdin")?;
            DockerfileSpec::Content(b)
        }
        // With a tar context the file is inside it; otherwise, as Docker resolves
        // it, relative to the current directory (it may lie outside the context).
        Some(f) if a.path == "-" => DockerfileSpec::InContext(f.to_string()),
        Some(f) => DockerfileSpec::Host(PathBuf::from(f)),
    };
    let ctx = if a.path == "-" {
        BuildContext::from_stdin(std::io::stdin().lock(), spec, Some(&tmp_parent))?
    } else {
        BuildContext::from_dir(Path::new(&a.path), spec)?
    };
    let quiet = a.quiet || a.progress == "quiet";
    let progress = if !quiet && redraw(&a.progress) {
        Progress::tty()
    } else {
        Progress::new(quiet, Box::new(std::io::stderr()))
    };
    let pull_always = a.pull;
    // Called from the threads of stages built side by side, each with its own
    // engine handle.
    let resolve = |engine: &berth_engine::Engine,
                   name: &str,
                   platform: &berth_build::platform::Platform|
     -> berth_build::Result<berth_image::ImageRecord> {
        let images = engine.images();
        let step = || format!("FROM {name}");
        // An image whose config names another platform is pulled again for this
        // one, as BuildKit does; a config that names none fits any. The record has
        // os and architecture; only a variant needs the config read.
        let fits = |img: &berth_image::ImageRecord| {
            platform.fits(&img.os, &img.architecture)
                && (platform.variant.is_none()
                    || images
                        .config(img)
                        .map(|c| platform.accepts(&c.raw))
                        .unwrap_or(true))
        };
        let local = images.resolve(name).ok();
        if pull_always || !local.as_ref().is_some_and(fits) {
            let p = platform.to_string();
            if let Err(e) = crate::registry_client_cli::pull_quietly(name, Some(&p), true, root) {
                return match images.resolve(name) {
                    Ok(img) if fits(&img) => Ok(img),
                    Ok(_) => Err(berth_build::BuildError::Step {
                        step: step(),
                        why: format!(
                            "the image in the store is not for {p}, and pulling it for {p} \
                             failed: {e:#}"
                        ),
                    }),
                    Err(_) => Err(berth_build::BuildError::Step {
                        step: step(),
                        why: format!("the image is not in the store and pulling it failed: {e:#}"),
                    }),
                };
            }
        }
        let img = images.resolve(name)?;
        if !fits(&img) {
            return Err(berth_build::BuildError::Step {
                step: step(),
                why: format!(
                    "the registry has no {platform} image by that name (the image it sent \
                     is for another platform)"
                ),
            });
        }
        Ok(img)
    };
    let img = exec::build(&engine, &ctx, &opts, &resolve, progress)?;
    crate::build_output::deliver(engine.images(), &img, &output)?;
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &img.id).with_context(|| format!("writing {}", f.display()))?;
    }
    if quiet {
        println!("{}", img.id);
    }
    Ok(0)
}

pub fn builder(
    cmd: BuilderCmd,
    root: &Option<PathBuf>,
    runroot: &Option<PathBuf>,
) -> anyhow::Result<i32> {
    match cmd {
        BuilderCmd::Prune(a) => {
            let _ = a.all;
            if !a.force && !crate::confirm::confirm("This will remove all dangling build cache.") {
                return Ok(0);
            }
            let engine = crate::container_cli::open_engine(root, runroot)?;
            let n = exec::cache::Cache::open(engine.images().root()).clear()?;
            let dir = engine.images().root().join("build-cache-mounts");
            let freed = berth_engine::volumes::dir_size(&dir);
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_file(engine.images().root().join("build-cache-stat"));
            let _ = std::fs::remove_dir_all(engine.images().snapshots_dir().join(".trash"));
            // Layers only the cache kept go too.
            let layers = engine.images().gc_layers()?;
            println!("Deleted build cache objects: {n}");
            println!(
                "Total reclaimed space: {}",
                crate::human::size(freed + layers)
            );
            Ok(0)
        }
    }
}
