//! `push`: each layer goes up as the compressed blob the store keeps for it (the bytes
//! it was pulled as, or last pushed as: HEAD skips it, a sibling repository can lend
//! it by mount), or else is rebuilt from the store (exact tar from tar-split) and
//! gzipped straight into a streamed upload, the store keeping that blob for next time.
//! Then the config and the manifest under the tag: the one the image was pulled with
//! when every layer is its original blob (so the digest stays the source's, as skopeo
//! and containerd keep it), else a new OCI manifest.
//!
//! An image can also go up by digest only ([`push_by_digest`]), and a manifest list
//! of the store as its images by digest plus the index under the tag
//! ([`super::push_list`]).

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
    /// Empty for a push by digest.
    pub tag: String,
    pub digest: String,
    pub media_type: String,
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
    progress: Option<&Arc<Progress>>,
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
        progress: progress.map(|p| (p.clone(), id)),
    })
}

pub(super) fn invalid(r: &ImageRef, why: String) -> ClientError {
    ClientError::Invalid {
        registry: r.registry.clone(),
        repository: r.repository.clone(),
        why,
    }
}

/// One connection to the destination registry, shared by every image of a push.
pub(super) struct Session {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) reg: Arc<Registry>,
    /// `images.keep_layer_blobs`: keep what is compressed for the next push.
    keep: bool,
}

impl Session {
    pub(super) fn connect(r: &ImageRef, opts: &PushOptions) -> Result<Session> {
        let cfg = BerthConfig::load()?;
        let rt = transport::runtime()?;
        let creds = credentials::get(&r.registry)?;
        let reg = Arc::new(rt.block_on(Registry::connect(
            &r.registry,
            &r.registry,
            &opts.transport,
            &cfg,
            creds,
        ))?);
        Ok(Session {
            rt,
            reg,
            keep: cfg.images.keep_layer_blobs,
        })
    }
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
        berth_image::ImageError::NotFound(_) => invalid(
            &r,
            format!(
                "no local image named {reference}; tag an image with `berth tag IMAGE {reference}` first"
            ),
        ),
        e => e.into(),
    })?;
    progress.line(&format!("The push refers to repository [{}]", r.name()));
    let session = Session::connect(&r, opts)?;
    send_image(&session, store, &r, &image, Some(&tag), opts, progress)
}

/// Pushes `image` into the repository of `dest` without tagging it: the manifest goes
/// up under its digest (what an index then points at). The manifest is the one
/// [`push`] would send for the image, byte for byte.
pub fn push_by_digest(
    store: &ImageStore,
    image: &ImageRecord,
    dest: &str,
    opts: &PushOptions,
    progress: &Arc<Progress>,
) -> Result<PushOutcome> {
    let r = ImageRef::parse(dest)?;
    progress.line(&format!("The push refers to repository [{}]", r.name()));
    let session = Session::connect(&r, opts)?;
    send_image(&session, store, &r, image, None, opts, progress)
}

/// Sends the layers, the config and the manifest of `image` to `r`'s repository;
/// the manifest under `tag`, or under its own digest when there is none.
pub(super) fn send_image(
    session: &Session,
    store: &ImageStore,
    r: &ImageRef,
    image: &ImageRecord,
    tag: Option<&str>,
    opts: &PushOptions,
    progress: &Arc<Progress>,
) -> Result<PushOutcome> {
    let Session { rt, reg, keep } = session;
    let config_bytes = store.config_bytes(image)?;

    let mut plans = Vec::new();
    let mut leftovers = Leftovers(Vec::new());
    for (i, chain) in image.layers.iter().enumerate() {
        let l = store.layer(chain)?.ok_or_else(|| {
            invalid(
                r,
                format!("layer {chain} of the image is missing from the store"),
            )
        })?;
        progress.status(&short(&l.diff_id), "Preparing");
        let p = plan(store, &l, i, *keep, Some(progress));
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
        sent.push(res.map_err(|e| invalid(r, format!("upload task failed: {e}")))??);
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
        reg,
        &r.repository,
        &config_digest,
        config_bytes.len() as u64,
        Source::Memory(Bytes::from(config_bytes.clone())),
        opts.chunk_size,
        None,
        None,
    ))?;

    let blobs: Vec<LayerBlob> = sent.iter().map(|s| s.blob.clone()).collect();
    let manifest_bytes = manifest_for(store, image, &config_bytes, &blobs);
    let media_type = manifest_media_type(&manifest_bytes);
    let digest = manifest::sha256(&manifest_bytes);
    let reference = tag.unwrap_or(&digest);
    rt.block_on(put_manifest(
        reg,
        &r.repository,
        reference,
        &media_type,
        &manifest_bytes,
        &digest,
    ))?;
    // Docker's closing line names the tag; an untagged manifest has only its digest.
    progress.line(&match tag {
        Some(t) => format!("{t}: digest: {digest} size: {}", manifest_bytes.len()),
        None => format!("digest: {digest} size: {}", manifest_bytes.len()),
    });
    store.add_image(
        &config_bytes,
        Some(&manifest_bytes),
        &[],
        Some((&r.name(), &digest)),
    )?;
    Ok(PushOutcome {
        tag: tag.unwrap_or_default().to_string(),
        digest,
        media_type,
        size: manifest_bytes.len(),
        layers_pushed: pushed,
        layers_existing: sent.len() - pushed,
        layers_reused: reused,
    })
}

/// The manifest for an image whose layers go up as `blobs`: the one it was pulled
/// (or last pushed or listed) with when that lists exactly these, else a new OCI one.
fn manifest_for(
    store: &ImageStore,
    image: &ImageRecord,
    config_bytes: &[u8],
    blobs: &[LayerBlob],
) -> Vec<u8> {
    match original_manifest(store, image, blobs) {
        Some(m) => m,
        None => oci_manifest(&manifest::sha256(config_bytes), config_bytes.len(), blobs),
    }
}

/// An image manifest as an index lists it.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
}

/// The manifest [`push`] will send for `image`, computed without a registry: layers
/// with no compressed blob in the store are compressed now and kept (whatever
/// `images.keep_layer_blobs` says, since a later push must send these very bytes for
/// the digest to hold), and the manifest is recorded as the image's. A manifest list
/// entry names this digest, so the index pushed later matches what the registry gets.
pub fn image_manifest(store: &ImageStore, image: &ImageRecord) -> Result<ImageManifest> {
    let config_bytes = store.config_bytes(image)?;
    let mut blobs = Vec::new();
    for (i, chain) in image.layers.iter().enumerate() {
        let l = store.layer(chain)?.ok_or_else(|| {
            ClientError::Image(berth_image::ImageError::Invalid {
                what: format!("image {}", image.short_id()),
                why: format!("its layer {chain} is missing from the store"),
            })
        })?;
        match plan(store, &l, i, true, None) {
            Plan::Kept { blob, .. } => blobs.push(blob),
            Plan::Build(job) => {
                let path = job.keep_at.clone().expect("keep was asked for");
                let leftovers = Leftovers(vec![path.clone()]);
                let produced = compress::compress_to_file(job)?;
                let blob = LayerBlob {
                    digest: produced.digest,
                    size: produced.size,
                    media_type: OCI_LAYER_GZIP.to_string(),
                };
                store.keep_layer_blob(chain, &path, &blob)?;
                drop(leftovers);
                blobs.push(blob);
            }
        }
    }
    let bytes = manifest_for(store, image, &config_bytes, &blobs);
    let digest = manifest::sha256(&bytes);
    if image.manifest_digest.as_deref() != Some(digest.as_str()) {
        store.add_image(&config_bytes, Some(&bytes), &[], None)?;
    }
    Ok(ImageManifest {
        media_type: manifest_media_type(&bytes),
        digest,
        bytes,
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
fn original_manifest(
    store: &ImageStore,
    image: &ImageRecord,
    blobs: &[LayerBlob],
) -> Option<Vec<u8>> {
    let digest = berth_store::Digest::parse(image.manifest_digest.as_deref()?).ok()?;
    let bytes = store.store().blobs().read(&digest).ok()?;
    let m: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if m["config"]["digest"].as_str()? != image.id {
        return None;
    }
    let layers = m["layers"].as_array()?;
    let same = layers.len() == blobs.len()
        && layers.iter().zip(blobs).all(|(l, b)| {
            l["digest"].as_str() == Some(b.digest.as_str()) && l["size"].as_u64() == Some(b.size)
        });
    same.then_some(bytes)
}

/// An OCI image manifest for what was sent. Docker media types of kept blobs become
/// their OCI names: the bytes are the same gzip tar.
fn oci_manifest(config_digest: &str, config_size: usize, blobs: &[LayerBlob]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = blobs
        .iter()
        .map(|b| {
            serde_json::json!({
                "mediaType": oci_layer_type(&b.media_type),
                "digest": b.digest,
                "size": b.size,
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
