//! `push`: each layer goes up as the compressed blob the store keeps for it (the bytes
//! it was pulled as, or last pushed as: HEAD skips it, a sibling repository can lend
//! it by mount), or else is rebuilt from the store (exact tar from tar-split) and
//! gzipped straight into a streamed upload, the store keeping that blob for next time.
//! Then the config and the manifest under the tag: the one the image was pulled with
//! when every layer is its original blob (so the digest stays the source's, as skopeo
//! and containerd keep it), else a new OCI manifest.

use std::path::PathBuf;
use std::sync::Arc;

use berth_image::store::{LayerBlob, LayerRecord};
use berth_image::{ImageRecord, ImageRef, ImageStore};
use bytes::Bytes;

use super::compress::{self, Job};
use super::config::BerthConfig;
use super::credentials;
use super::error::{ClientError, Result};
use super::manifest::{self, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use super::progress::{short, Progress};
use super::transport::{self, Registry, TransportOptions};
use super::upload::{self, manifest_media_type, put_manifest, Source, Uploaded};

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub transport: TransportOptions,
    /// Kept blobs larger than this go up in PATCH chunks of this size.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            transport: TransportOptions::default(),
            chunk_size: 16 << 20,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushOutcome {
    pub tag: String,
    pub digest: String,
    pub size: usize,
    pub layers_pushed: usize,
    pub layers_existing: usize,
    /// Layers sent as a blob the store kept (no recompression).
    pub layers_reused: usize,
}

/// How one layer gets to the registry.
enum Plan {
    /// The store's kept blob, sent as it is.
    Kept { blob: LayerBlob, path: PathBuf },
    /// Rebuilt and compressed while uploading.
    Build(Job),
}

/// One layer as the manifest will list it.
struct Sent {
    blob: LayerBlob,
    uploaded: Uploaded,
    /// Sent as the store's kept blob (nothing compressed).
    reused: bool,
    /// A freshly compressed blob to hand to the store.
    keep: Option<PathBuf>,
}

/// Removes compressed copies the store did not adopt (a failed push).
struct Leftovers(Vec<PathBuf>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn plan(
    store: &ImageStore,
    l: &LayerRecord,
    index: usize,
    keep: bool,
    progress: &Arc<Progress>,
) -> Plan {
    if let Some(blob) = &l.blob {
        let path = store.layer_blob_path(&l.dir);
        if path.is_file() {
            return Plan::Kept {
                blob: blob.clone(),
                path,
            };
        }
    }
    let id = short(&l.diff_id);
    Plan::Build(Job {
        tar_split: store.layer_tar_split(&l.dir),
        diff: store.layer_diff_path(&l.dir),
        // Beside the layer, so the store can adopt it with a rename.
        keep_at: keep.then(|| {
            store
                .layers_dir()
                .join(&l.dir)
                .join(format!(".push-{}-{index}", std::process::id()))
        }),
        tar_size: l.tar_size,
        progress: Some((progress.clone(), id)),
    })
}

pub fn push(
    store: &ImageStore,
    reference: &str,
    opts: &PushOptions,
    progress: &Arc<Progress>,
) -> Result<PushOutcome> {
    let r = ImageRef::parse(reference)?;
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let image = store.resolve(reference).map_err(|e| match e {
        berth_image::ImageError::NotFound(_) => ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: format!(
                "no local image named {reference}; tag an image with `berth tag IMAGE {reference}` first"
            ),
        },
        e => e.into(),
    })?;
    progress.line(&format!("The push refers to repository [{}]", r.name()));
    let config_bytes = store.config_bytes(&image)?;
    let cfg = BerthConfig::load()?;
    let keep = cfg.images.keep_layer_blobs;

    let mut plans = Vec::new();
    let mut leftovers = Leftovers(Vec::new());
    for (i, chain) in image.layers.iter().enumerate() {
        let l = store.layer(chain)?.ok_or_else(|| ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: format!("layer {chain} of the image is missing from the store"),
        })?;
        progress.status(&short(&l.diff_id), "Preparing");
        let p = plan(store, &l, i, keep, progress);
        if let Plan::Build(Job {
            keep_at: Some(path),
            ..
        }) = &p
        {
            leftovers.0.push(path.clone());
        }
        plans.push((l, p));
    }

    // A repository of the same registry this image came from can lend its blobs.
    let mount_from = image.repo_digests.iter().find_map(|rd| {
        let name = rd.split('@').next()?;
        let (reg, repo) = name.split_once('/')?;
        (reg == r.registry && repo != r.repository).then(|| repo.to_string())
    });

    let rt = transport::runtime()?;
    let creds = credentials::get(&r.registry)?;
    let reg = Arc::new(rt.block_on(Registry::connect(
        &r.registry,
        &r.registry,
        &opts.transport,
        &cfg,
        creds,
    ))?);

    let mut tasks = Vec::new();
    let mut chains = Vec::new();
    for (l, p) in plans {
        let reg = reg.clone();
        let repo = r.repository.clone();
        let from = mount_from.clone();
        let chunk = opts.chunk_size;
        let progress = progress.clone();
        let id = short(&l.diff_id);
        chains.push(l.chain_id.clone());
        tasks.push(rt.spawn(async move {
            let res = send_layer(&reg, &repo, p, chunk, from.as_deref(), &progress, &id).await;
            match &res {
                Ok(s) => match &s.uploaded {
                    Uploaded::Existed => progress.finish(&id, "Layer already exists"),
                    Uploaded::Mounted(f) => progress.finish(&id, &format!("Mounted from {f}")),
                    Uploaded::Pushed => progress.finish(&id, "Pushed"),
                },
                Err(_) => progress.finish(&id, "Push failed"),
            }
            res
        }));
    }
    let mut sent = Vec::new();
    for res in rt.block_on(futures_util::future::join_all(tasks)) {
        sent.push(res.map_err(|e| ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: format!("upload task failed: {e}"),
        })??);
    }
    let pushed = sent
        .iter()
        .filter(|s| s.uploaded == Uploaded::Pushed)
        .count();
    let reused = sent.iter().filter(|s| s.reused).count();
    // Keep the blobs compressed for this push, so the next one sends them as they are.
    for (chain, s) in chains.iter().zip(&sent) {
        if let Some(path) = &s.keep {
            store.keep_layer_blob(chain, path, &s.blob)?;
        }
    }
    drop(leftovers);

    let config_digest = manifest::sha256(&config_bytes);
    rt.block_on(upload::upload(
        &reg,
        &r.repository,
        &config_digest,
        config_bytes.len() as u64,
        Source::Memory(Bytes::from(config_bytes.clone())),
        opts.chunk_size,
        None,
        None,
    ))?;

    let manifest_bytes = match original_manifest(store, &image, &sent) {
        Some(m) => m,
        None => oci_manifest(&config_digest, config_bytes.len(), &sent),
    };
    let media_type = manifest_media_type(&manifest_bytes);
    let digest = manifest::sha256(&manifest_bytes);
    rt.block_on(put_manifest(
        &reg,
        &r.repository,
        &tag,
        &media_type,
        &manifest_bytes,
        &digest,
    ))?;
    progress.line(&format!(
        "{tag}: digest: {digest} size: {}",
        manifest_bytes.len()
    ));
    store.add_image(
        &config_bytes,
        Some(&manifest_bytes),
        &[],
        Some((&r.name(), &digest)),
    )?;
    Ok(PushOutcome {
        tag,
        digest,
        size: manifest_bytes.len(),
        layers_pushed: pushed,
        layers_existing: sent.len() - pushed,
        layers_reused: reused,
    })
}

async fn send_layer(
    reg: &Registry,
    repo: &str,
    plan: Plan,
    chunk: u64,
    mount_from: Option<&str>,
    progress: &Arc<Progress>,
    id: &str,
) -> Result<Sent> {
    match plan {
        Plan::Kept { blob, path } => {
            let uploaded = upload::upload(
                reg,
                repo,
                &blob.digest,
                blob.size,
                Source::File(path),
                chunk,
                mount_from,
                Some((progress, id)),
            )
            .await?;
            Ok(Sent {
                blob,
                uploaded,
                reused: true,
                keep: None,
            })
        }
        Plan::Build(job) => {
            let keep = job.keep_at.clone();
            let total = job.tar_size;
            progress.start_bytes(id, "Pushing", total);
            let what = format!("layer {id}");
            let produced =
                upload::upload_streamed(reg, repo, &what, move |tx| compress::compress(job, tx))
                    .await?;
            Ok(Sent {
                blob: LayerBlob {
                    digest: produced.digest,
                    size: produced.size,
                    media_type: OCI_LAYER_GZIP.to_string(),
                },
                uploaded: Uploaded::Pushed,
                reused: false,
                keep,
            })
        }
    }
}

/// The manifest the image was pulled with, when what was just sent is exactly what it
/// lists (same config, same layer blobs): pushing it unchanged keeps its digest.
fn original_manifest(store: &ImageStore, image: &ImageRecord, sent: &[Sent]) -> Option<Vec<u8>> {
    let digest = berth_store::Digest::parse(image.manifest_digest.as_deref()?).ok()?;
    let bytes = store.store().blobs().read(&digest).ok()?;
    let m: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if m["config"]["digest"].as_str()? != image.id {
        return None;
    }
    let layers = m["layers"].as_array()?;
    let same = layers.len() == sent.len()
        && layers.iter().zip(sent).all(|(l, s)| {
            l["digest"].as_str() == Some(s.blob.digest.as_str())
                && l["size"].as_u64() == Some(s.blob.size)
        });
    same.then_some(bytes)
}

/// An OCI image manifest for what was sent. Docker media types of kept blobs become
/// their OCI names: the bytes are the same gzip tar.
fn oci_manifest(config_digest: &str, config_size: usize, sent: &[Sent]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = sent
        .iter()
        .map(|s| {
            serde_json::json!({
                "mediaType": oci_layer_type(&s.blob.media_type),
                "digest": s.blob.digest,
                "size": s.blob.size,
            })
        })
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&m).expect("JSON value")
}

fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => OCI_LAYER_GZIP,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_layer_types_become_oci_ones() {
        assert_eq!(
            oci_layer_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            OCI_LAYER_GZIP
        );
        assert_eq!(
            oci_layer_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
}
