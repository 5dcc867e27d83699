//! `berth manifest`: manifest lists (OCI image indexes) of local images, in the shapes
//! of `podman manifest` and `docker manifest`: create, add, annotate, inspect, push,
//! rm, exists. `berth push LIST` pushes a list the same way.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use berth_distribution::client::{self, Progress, PushListOptions, PushOptions, TransportOptions};
use berth_image::manifest_list::{ListEntry, ListPlatform, ManifestList};
use berth_image::{ImageError, ImageStore};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ManifestCmd {
    /// Create a manifest list from local images (their platforms from their configs).
    Create(CreateArgs),
    /// Add a local image to a manifest list (or replace its entry).
    Add(AddArgs),
    /// Set the platform or annotations of an image's entry in a manifest list.
    Annotate(AddArgs),
    /// Print a manifest list as an OCI image index (JSON).
    Inspect(ListArg),
    /// Push a manifest list and its images to a registry.
    Push(PushArgs),
    /// Remove manifest lists (the images they list stay).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Exit 0 when a manifest list of that name exists, else 1.
    Exists(ListArg),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Name of the list (NAME[:TAG]).
    list: String,
    /// Local images to list.
    images: Vec<String>,
    /// Add to the list when one of that name exists instead of failing.
    #[arg(short, long)]
    amend: bool,
    /// An annotation of the index itself (KEY=VALUE, repeatable).
    #[arg(long)]
    annotation: Vec<String>,
}

/// What `add` and `annotate` can say about an entry.
#[derive(clap::Args)]
pub struct EntryFlags {
    /// Operating system of the entry (default: the image config's).
    #[arg(long)]
    os: Option<String>,
    /// Architecture of the entry (default: the image config's).
    #[arg(long)]
    arch: Option<String>,
    /// Architecture variant of the entry, e.g. v8.
    #[arg(long)]
    variant: Option<String>,
    /// OS version of the entry.
    #[arg(long)]
    os_version: Option<String>,
    /// OS features of the entry (comma-separated, repeatable).
    #[arg(long, visible_alias = "features", value_delimiter = ',')]
    os_features: Vec<String>,
    /// An annotation of the entry (KEY=VALUE, repeatable).
    #[arg(long)]
    annotation: Vec<String>,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// Name of the list.
    list: String,
    /// A local image (name or id); for annotate also the digest of its manifest.
    image: String,
    #[command(flatten)]
    flags: EntryFlags,
}

#[derive(clap::Args)]
pub struct ListArg {
    /// Name of the list.
    list: String,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Names of the lists.
    #[arg(required = true)]
    lists: Vec<String>,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// Name of the list.
    list: String,
    /// Where to push it (NAME[:TAG], `docker://` accepted); default the list's name.
    destination: Option<String>,
    /// Push the listed images too (--all=false pushes only the index).
    #[arg(long, num_args = 0..=1, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    all: bool,
    /// Require HTTPS and verify certificates (false: accept any certificate or plain HTTP).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Suppress progress output.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(cmd: ManifestCmd, root: &Option<PathBuf>) -> anyhow::Result<i32> {
    let store = crate::image_cli::open_store(root)?;
    match cmd {
        ManifestCmd::Create(a) => create(&store, a),
        ManifestCmd::Add(a) => add(&store, a),
        ManifestCmd::Annotate(a) => annotate(&store, a),
        ManifestCmd::Inspect(a) => {
            let list = existing(&store, &a.list)?;
            println!("{}", list.index_pretty());
            Ok(0)
        }
        ManifestCmd::Push(a) => {
            let opts = PushListOptions {
                push: PushOptions {
                    transport: TransportOptions {
                        tls_verify: a.tls_verify,
                    },
                    ..Default::default()
                },
                all: a.all,
            };
            push(&store, &a.list, a.destination.as_deref(), &opts, a.quiet)
        }
        ManifestCmd::Rm(a) => rm(&store, a),
        ManifestCmd::Exists(a) => Ok(if store.manifest_list(&a.list)?.is_some() {
            0
        } else {
            1
        }),
    }
}

fn existing(store: &ImageStore, name: &str) -> anyhow::Result<ManifestList> {
    Ok(store
        .manifest_list(name)?
        .ok_or_else(|| ImageError::ListNotFound(name.to_string()))?)
}

fn annotations(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in items {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            _ => bail!("invalid annotation {a:?}: expected KEY=VALUE"),
        }
    }
    Ok(out)
}

/// Applies the flags given to an entry's platform and annotations.
fn apply(flags: &EntryFlags, entry: &mut ListEntry) -> anyhow::Result<()> {
    let p = &mut entry.platform;
    if let Some(os) = &flags.os {
        p.os = os.clone();
    }
    if let Some(arch) = &flags.arch {
        p.architecture = arch.clone();
    }
    if let Some(v) = &flags.variant {
        p.variant = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if let Some(v) = &flags.os_version {
        p.os_version = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if !flags.os_features.is_empty() {
        p.os_features = flags.os_features.clone();
    }
    entry.annotations.extend(annotations(&flags.annotation)?);
    Ok(())
}

/// The entry for a local image: its platform from its config, and the manifest a
/// push will send for it (compressing layers the store holds no blob for).
fn entry_for(store: &ImageStore, image: &str, list: &str) -> anyhow::Result<ListEntry> {
    let img = store
        .resolve(image)
        .with_context(|| format!("cannot add {image} to manifest list {list}"))?;
    let platform = ListPlatform::of_config(&store.config(&img)?);
    let manifest = client::image_manifest(store, &img)
        .with_context(|| format!("preparing the manifest of {image}"))?;
    Ok(ListEntry {
        image_id: img.id,
        digest: manifest.digest,
        media_type: manifest.media_type,
        size: manifest.bytes.len() as u64,
        platform,
        annotations: BTreeMap::new(),
    })
}

fn create(store: &ImageStore, a: CreateArgs) -> anyhow::Result<i32> {
    let index_annotations = annotations(&a.annotation)?;
    // Refusals before any work: nothing is prepared for a create that cannot happen.
    if !a.amend && store.manifest_list(&a.list)?.is_some() {
        bail!(
            "a manifest list named {} already exists; use --amend to add to it",
            a.list
        );
    }
    for i in &a.images {
        store
            .resolve(i)
            .with_context(|| format!("cannot add {i} to manifest list {}", a.list))?;
    }
    let mut entries = Vec::new();
    for i in &a.images {
        entries.push(entry_for(store, i, &a.list)?);
    }
    let list = store.create_manifest_list(&a.list, a.amend, &index_annotations, &entries)?;
    println!("{}", list.id);
    Ok(0)
}

fn add(store: &ImageStore, a: AddArgs) -> anyhow::Result<i32> {
    let list = existing(store, &a.list)?;
    store
        .resolve(&a.image)
        .with_context(|| format!("cannot add {} to manifest list {}", a.image, a.list))?;
    let _ = annotations(&a.flags.annotation)?;
    let mut entry = entry_for(store, &a.image, &a.list)?;
    apply(&a.flags, &mut entry)?;
    store.put_manifest_list_entries(&list.name, &[entry])?;
    println!("{}", list.id);
    Ok(0)
}

fn annotate(store: &ImageStore, a: AddArgs) -> anyhow::Result<i32> {
    let list = existing(store, &a.list)?;
    let entry = match list.entry(&a.image) {
        Some(e) => e,
        None => {
            let img = store.resolve(&a.image).with_context(|| {
                format!(
                    "{} is neither a local image nor a manifest digest of list {}",
                    a.image, list.name
                )
            })?;
            list.entry(&img.id).with_context(|| {
                format!("image {} is not in manifest list {}", a.image, list.name)
            })?
        }
    };
    let mut entry = entry.clone();
    apply(&a.flags, &mut entry)?;
    store.put_manifest_list_entries(&list.name, &[entry])?;
    println!("{}", list.id);
    Ok(0)
}

fn rm(store: &ImageStore, a: RmArgs) -> anyhow::Result<i32> {
    let mut failed = false;
    for name in &a.lists {
        match store.remove_manifest_list(name) {
            Ok(list) => {
                println!("Untagged: {}", list.name);
                println!("Deleted: {}", list.id);
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn push(
    store: &ImageStore,
    list: &str,
    dest: Option<&str>,
    opts: &PushListOptions,
    quiet: bool,
) -> anyhow::Result<i32> {
    let progress = Arc::new(Progress::auto(quiet));
    client::push_list(store, list, dest, opts, &progress)?;
    Ok(0)
}

/// `berth push NAME` where NAME is a manifest list: pushes it as `manifest push` does.
/// `None` when NAME is no list, so the image push goes on.
pub fn push_if_list(
    store: &ImageStore,
    name: &str,
    tls_verify: Option<bool>,
    quiet: bool,
) -> anyhow::Result<Option<i32>> {
    let Some(list) = store.manifest_list(name).ok().flatten() else {
        return Ok(None);
    };
    if store
        .resolve(name)
        .is_ok_and(|img| img.tags.contains(&list.name))
    {
        bail!(
            "{} names both a manifest list and an image; push the list with `berth manifest push` or untag the image",
            list.name
        );
    }
    let opts = PushListOptions {
        push: PushOptions {
            transport: TransportOptions { tls_verify },
            ..Default::default()
        },
        all: true,
    };
    push(store, &list.name, None, &opts, quiet).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_key_value() {
        let a = annotations(&["a=b".into(), "c=d=e".into(), "f=".into()]).unwrap();
        assert_eq!(a["a"], "b");
        assert_eq!(a["c"], "d=e");
        assert_eq!(a["f"], "");
        assert!(annotations(&["novalue".into()]).is_err());
        assert!(annotations(&["=x".into()]).is_err());
    }
}
