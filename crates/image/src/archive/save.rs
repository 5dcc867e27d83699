//! `save`: one or more images into a docker-archive (what `docker load` and `podman
//! load` read) or an oci-archive. Layers are rebuilt byte for byte from their unpacked
//! directories and tar-split records, so their digests match the image configs.

use std::collections::HashSet;
use std::io::{Read, Write};

use serde_json::{json, Value};

use crate::error::{ImageError, IoContext, Result};
use crate::reference::{familiar, split_tag};
use crate::store::{ImageRecord, ImageStore, LayerRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DockerArchive,
    OciArchive,
}

/// An image to save and the names to record for it (canonical `registry/repo:tag`).
pub struct SaveItem {
    pub image: ImageRecord,
    pub names: Vec<String>,
}

fn header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> Result<()> {
    let mut h = header(data.len() as u64, 0o644);
    b.append_data(&mut h, name, data)
        .ctx(|| format!("writing {name}"))
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, name: &str) -> Result<()> {
    let mut h = header(0, 0o755);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, name, std::io::empty())
        .ctx(|| format!("writing {name}"))
}

/// Streams a layer's reassembled tar into the archive without a temp copy: a thread
/// rebuilds it into a pipe that the archive writer reads.
fn add_layer<W: Write>(
    b: &mut tar::Builder<W>,
    store: &ImageStore,
    l: &LayerRecord,
    name: &str,
) -> Result<()> {
    let tar_split = store.layer_tar_split(&l.dir);
    let diff = store.layer_diff_path(&l.dir);
    let size = if l.tar_size > 0 {
        l.tar_size
    } else {
        crate::layer::reassemble(&tar_split, &diff, std::io::sink())?
    };
    let (mut reader, writer) = std::io::pipe().ctx(|| "creating a pipe".into())?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, writer);
            let r = crate::layer::reassemble(&tar_split, &diff, &mut w);
            let _ = w.flush();
            r
        });
        let mut h = header(size, 0o644);
        let appended = b
            .append_data(&mut h, name, (&mut reader).take(size))
            .ctx(|| format!("writing layer {}", l.diff_id));
        // Unblock the producer if the consumer stopped early.
        drop(reader);
        let produced = producer.join();
        appended?;
        let n = produced.map_err(|_| ImageError::Invalid {
            what: format!("layer {}", l.diff_id),
            why: "the thread rebuilding it panicked".into(),
        })??;
        if n != size {
            return Err(ImageError::Invalid {
                what: format!("layer {}", l.diff_id),
                why: format!("rebuilt {n} bytes but {size} were recorded"),
            });
        }
        Ok(())
    })
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

pub fn save<W: Write>(
    store: &ImageStore,
    items: &[SaveItem],
    format: Format,
    out: W,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.mode(tar::HeaderMode::Deterministic);
    match format {
        Format::DockerArchive => save_docker(store, items, &mut b)?,
        Format::OciArchive => save_oci(store, items, &mut b)?,
    }
    b.into_inner()
        .ctx(|| "finishing the archive".into())?
        .flush()
        .ctx(|| "flushing the archive".into())
}

fn layers_of(store: &ImageStore, img: &ImageRecord) -> Result<Vec<LayerRecord>> {
    img.layers
        .iter()
        .map(|c| {
            store.layer(c)?.ok_or_else(|| ImageError::Invalid {
                what: format!("image {}", img.short_id()),
                why: format!("layer {c} is missing"),
            })
        })
        .collect()
}

fn save_docker<W: Write>(
    store: &ImageStore,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<()> {
    let mut manifest = Vec::new();
    let mut written = HashSet::new();
    for item in items {
        let img = &item.image;
        let config = store.config_bytes(img)?;
        let config_name = format!("{}.json", hex(&img.id));
        if written.insert(config_name.clone()) {
            add_bytes(b, &config_name, &config)?;
        }
        let mut layer_names = Vec::new();
        for l in layers_of(store, img)? {
            let dir = hex(&l.diff_id).to_string();
            let name = format!("{dir}/layer.tar");
            if written.insert(name.clone()) {
                add_dir(b, &dir)?;
                add_layer(b, store, &l, &name)?;
            }
            layer_names.push(name);
        }
        let tags: Vec<String> = item
            .names
            .iter()
            .map(|n| {
                let (repo, tag) = split_tag(n);
                format!("{}:{tag}", familiar(repo))
            })
            .collect();
        manifest.push(json!({"Config": config_name, "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) }, "Layers": layer_names}));
    }
    add_bytes(
        b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap_or_default(),
    )
}

fn save_oci<W: Write>(
    store: &ImageStore,
    items: &[SaveItem],
    b: &mut tar::Builder<W>,
) -> Result<()> {
    add_bytes(b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add_dir(b, "blobs")?;
    add_dir(b, "blobs/sha256")?;
    let mut written = HashSet::new();
    let mut index_manifests = Vec::new();
    for item in items {
        let img = &item.image;
        let config = store.config_bytes(img)?;
        let config_name = format!("blobs/sha256/{}", hex(&img.id));
        if written.insert(config_name.clone()) {
            add_bytes(b, &config_name, &config)?;
        }
        let mut layers = Vec::new();
        for l in layers_of(store, img)? {
            let name = format!("blobs/sha256/{}", hex(&l.diff_id));
            if written.insert(name.clone()) {
                add_layer(b, store, &l, &name)?;
            }
            let size = if l.tar_size > 0 { l.tar_size } else { 0 };
            layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.diff_id, "size": size}));
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.id, "size": config.len()},
            "layers": layers,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).unwrap_or_default();
        let manifest_digest = berth_store::Digest::of_bytes(&manifest_bytes).to_string();
        let manifest_name = format!("blobs/sha256/{}", hex(&manifest_digest));
        if written.insert(manifest_name.clone()) {
            add_bytes(b, &manifest_name, &manifest_bytes)?;
        }
        let names = if item.names.is_empty() {
            vec![None]
        } else {
            item.names.iter().map(Some).collect()
        };
        for n in names {
            let mut desc = json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_bytes.len(),
                "platform": {"os": img.os, "architecture": img.architecture},
            });
            if let Some(n) = n {
                let (_, tag) = split_tag(n);
                desc["annotations"] = json!({"io.containerd.image.name": n, "org.opencontainers.image.ref.name": tag});
            }
            index_manifests.push(desc);
        }
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index_manifests});
    add_bytes(
        b,
        "index.json",
        &serde_json::to_vec(&index).unwrap_or_default(),
    )
}
