//! `push`: each layer regenerated from the store as a gzip blob (exact tar rebuilt
//! from tar-split, compressed to a temp file while its digest and size are computed),
//! skipped when the registry has it, mounted from a sibling repository when one is
//! known, otherwise uploaded monolithically or in chunks; then the config and an OCI
//! manifest under the tag.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Arc;

use berth_image::{ImageRef, ImageStore};
use bytes::Bytes;
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use super::config::BerthConfig;
use super::credentials;
use super::error::{io, ClientError, Result};
use super::manifest::{self, OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST};
use super::progress::{short, Progress};
use super::transport::{self, Registry, TransportOptions};

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub transport: TransportOptions,
    /// Blobs larger than this go up in PATCH chunks of this size.
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Uploaded {
    Existed,
    Mounted(String),
    Pushed,
}

/// A compressed layer in the store's tmp dir, removed when dropped.
struct Prepared {
    path: PathBuf,
    digest: String,
    size: u64,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn compress(tar_split: PathBuf, diff: PathBuf, out: PathBuf) -> Result<Prepared> {
    let file = File::create(&out).map_err(io(format!("creating {}", out.display())))?;
    let mut prepared = Prepared {
        path: out,
        digest: String::new(),
        size: 0,
    };
    let hw = HashingWriter {
        inner: std::io::BufWriter::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        n: 0,
    };
    let mut gz = flate2::write::GzEncoder::new(hw, flate2::Compression::default());
    berth_image::layer::reassemble(&tar_split, &diff, &mut gz).map_err(|e| {
        ClientError::Image(berth_image::ImageError::Invalid {
            what: format!("layer {}", diff.display()),
            why: format!("cannot rebuild its tar: {e}"),
        })
    })?;
    let mut hw = gz
        .finish()
        .map_err(io(format!("compressing into {}", prepared.path.display())))?;
    hw.flush()
        .map_err(io(format!("writing {}", prepared.path.display())))?;
    prepared.digest = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
    prepared.size = hw.n;
    Ok(prepared)
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

    // Compress every layer in parallel (CPU-bound; the store handle stays here).
    let mut jobs = Vec::new();
    for (i, chain) in image.layers.iter().enumerate() {
        let l = store.layer(chain)?.ok_or_else(|| ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: format!("layer {chain} of the image is missing from the store"),
        })?;
        progress.status(&short(&l.diff_id), "Preparing");
        jobs.push((
            short(&l.diff_id),
            store.layer_tar_split(&l.dir),
            store.layer_diff_path(&l.dir),
            store
                .store()
                .tmp_dir()
                .join(format!("push-{}-{i}.tar.gz", std::process::id())),
        ));
    }
    let prepared: Vec<Result<Prepared>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(_, ts, diff, out)| s.spawn(|| compress(ts.clone(), diff.clone(), out.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("compression thread panicked"))
            .collect()
    });
    let prepared: Vec<Prepared> = prepared.into_iter().collect::<Result<_>>()?;

    // A repository of the same registry this image came from can lend its blobs.
    let mount_from = image.repo_digests.iter().find_map(|rd| {
        let name = rd.split('@').next()?;
        let (reg, repo) = name.split_once('/')?;
        (reg == r.registry && repo != r.repository).then(|| repo.to_string())
    });

    let rt = transport::runtime()?;
    let cfg = BerthConfig::load()?;
    let creds = credentials::get(&r.registry)?;
    let reg = Arc::new(rt.block_on(Registry::connect(
        &r.registry,
        &r.registry,
        &opts.transport,
        &cfg,
        creds,
    ))?);

    let mut tasks = Vec::new();
    for (p, (id, ..)) in prepared.iter().zip(&jobs) {
        let reg = reg.clone();
        let repo = r.repository.clone();
        let digest = p.digest.clone();
        let size = p.size;
        let path = p.path.clone();
        let from = mount_from.clone();
        let chunk = opts.chunk_size;
        let progress = progress.clone();
        let id = id.clone();
        tasks.push(rt.spawn(async move {
            let res = upload(
                &reg,
                &repo,
                &digest,
                size,
                Source::File(path),
                chunk,
                from.as_deref(),
                Some((&progress, &id)),
            )
            .await;
            match &res {
                Ok(Uploaded::Existed) => progress.finish(&id, "Layer already exists"),
                Ok(Uploaded::Mounted(f)) => progress.finish(&id, &format!("Mounted from {f}")),
                Ok(Uploaded::Pushed) => progress.finish(&id, "Pushed"),
                Err(_) => progress.finish(&id, "Push failed"),
            }
            res
        }));
    }
    let mut pushed = 0;
    let mut existing = 0;
    for res in rt.block_on(futures_util::future::join_all(tasks)) {
        match res.map_err(|e| ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: format!("upload task failed: {e}"),
        })?? {
            Uploaded::Pushed => pushed += 1,
            _ => existing += 1,
        }
    }
    let config_digest = manifest::sha256(&config_bytes);
    rt.block_on(upload(
        &reg,
        &r.repository,
        &config_digest,
        config_bytes.len() as u64,
        Source::Memory(Bytes::from(config_bytes.clone())),
        opts.chunk_size,
        None,
        None,
    ))?;

    let layers: Vec<serde_json::Value> = prepared
        .iter()
        .map(|p| serde_json::json!({"mediaType": OCI_LAYER_GZIP, "digest": p.digest, "size": p.size}))
        .collect();
    let manifest_json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_bytes.len()},
        "layers": layers,
    });
    let manifest_bytes = serde_json::to_vec(&manifest_json).expect("JSON value");
    let digest = manifest::sha256(&manifest_bytes);
    rt.block_on(put_manifest(
        &reg,
        &r.repository,
        &tag,
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
        layers_existing: existing,
    })
}

async fn put_manifest(
    reg: &Registry,
    repo: &str,
    tag: &str,
    bytes: &[u8],
    digest: &str,
) -> Result<()> {
    let scope = format!("repository:{repo}:pull,push");
    let url = reg.url(&format!("{repo}/manifests/{tag}"));
    let body = Bytes::copy_from_slice(bytes);
    let resp = reg
        .send(&format!("PUT manifest {repo}:{tag}"), &scope, |c| {
            c.put(&url)
                .header("Content-Type", OCI_MANIFEST)
                .body(body.clone())
        })
        .await?;
    if !resp.status().is_success() {
        return Err(reg
            .error(resp, repo, &format!("manifest upload for tag {tag}"))
            .await);
    }
    if let Some(d) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|h| h.to_str().ok())
    {
        if d != digest {
            return Err(ClientError::Digest {
                registry: reg.name.clone(),
                repository: repo.to_string(),
                what: format!("manifest {tag} as stored by the registry"),
                expected: digest.to_string(),
                actual: d.to_string(),
            });
        }
    }
    Ok(())
}

enum Source {
    File(PathBuf),
    Memory(Bytes),
}

impl Source {
    /// Bytes `[start, start+len)`; chunks are bounded by the chunk size, so memory is too.
    fn read(&self, start: u64, len: u64) -> Result<Bytes> {
        match self {
            Source::Memory(b) => Ok(b.slice(start as usize..(start + len) as usize)),
            Source::File(p) => {
                let mut f = File::open(p).map_err(io(format!("opening {}", p.display())))?;
                f.seek(SeekFrom::Start(start))
                    .map_err(io(format!("reading {}", p.display())))?;
                let mut buf = Vec::with_capacity(len as usize);
                f.take(len)
                    .read_to_end(&mut buf)
                    .map_err(io(format!("reading {}", p.display())))?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

fn with_query(url: &str, extra: &str) -> String {
    if url.contains('?') {
        format!("{url}&{extra}")
    } else {
        format!("{url}?{extra}")
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload(
    reg: &Registry,
    repo: &str,
    digest: &str,
    size: u64,
    src: Source,
    chunk_size: u64,
    mount_from: Option<&str>,
    progress: Option<(&Arc<Progress>, &str)>,
) -> Result<Uploaded> {
    let scope = match mount_from {
        Some(from) => format!("repository:{repo}:pull,push repository:{from}:pull"),
        None => format!("repository:{repo}:pull,push"),
    };
    let blob_url = reg.url(&format!("{repo}/blobs/{digest}"));
    let head = reg
        .send(&format!("HEAD blob {digest}"), &scope, |c| {
            c.head(&blob_url)
        })
        .await?;
    match head.status() {
        s if s.is_success() => return Ok(Uploaded::Existed),
        StatusCode::NOT_FOUND => {}
        _ => return Err(reg.error(head, repo, &format!("blob {digest}")).await),
    }
    let mut start_url = reg.url(&format!("{repo}/blobs/uploads/"));
    if let Some(from) = mount_from {
        start_url = format!("{start_url}?mount={digest}&from={from}");
    }
    let resp = reg
        .send(&format!("starting upload of {digest}"), &scope, |c| {
            c.post(&start_url).header("Content-Length", "0")
        })
        .await?;
    if resp.status() == StatusCode::CREATED && mount_from.is_some() {
        return Ok(Uploaded::Mounted(
            mount_from.unwrap_or_default().to_string(),
        ));
    }
    if resp.status() != StatusCode::ACCEPTED {
        return Err(reg.error(resp, repo, "blob upload").await);
    }
    let mut location = location(reg, &resp, repo)?;
    if let Some((p, id)) = progress {
        p.start_bytes(id, "Pushing", size);
    }
    let put_url;
    if size <= chunk_size {
        let body = src.read(0, size)?;
        put_url = with_query(&location, &format!("digest={digest}"));
        let resp = reg
            .send(&format!("uploading {digest}"), &scope, |c| {
                c.put(&put_url)
                    .header("Content-Type", "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(reg
                .error(resp, repo, &format!("upload of blob {digest}"))
                .await);
        }
        if let Some((p, id)) = progress {
            p.add_bytes(id, size);
        }
    } else {
        let mut offset = 0;
        while offset < size {
            let len = chunk_size.min(size - offset);
            let body = src.read(offset, len)?;
            let range = format!("{}-{}", offset, offset + len - 1);
            let url = location.clone();
            let resp = reg
                .send(&format!("uploading {digest} bytes {range}"), &scope, |c| {
                    c.patch(&url)
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", &range)
                        .body(body.clone())
                })
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(reg
                    .error(resp, repo, &format!("chunk {range} of blob {digest}"))
                    .await);
            }
            location = self::location(reg, &resp, repo)?;
            offset += len;
            if let Some((p, id)) = progress {
                p.add_bytes(id, len);
            }
        }
        put_url = with_query(&location, &format!("digest={digest}"));
        let resp = reg
            .send(&format!("finishing upload of {digest}"), &scope, |c| {
                c.put(&put_url).header("Content-Length", "0")
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(reg
                .error(resp, repo, &format!("upload of blob {digest}"))
                .await);
        }
    }
    Ok(Uploaded::Pushed)
}

fn location(reg: &Registry, resp: &reqwest::Response, repo: &str) -> Result<String> {
    resp.headers()
        .get("location")
        .and_then(|h| h.to_str().ok())
        .map(|l| reg.resolve_location(l))
        .ok_or_else(|| ClientError::Invalid {
            registry: reg.name.clone(),
            repository: repo.to_string(),
            why: "the registry started an upload without a Location header".into(),
        })
}
