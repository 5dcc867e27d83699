//! `pull`: resolve a reference to one image manifest (choosing a platform from an
//! index), fetch and verify the config, then stream the missing layers from the
//! registry straight into the store's parallel unpacker. Each download task hashes what
//! it forwards, resumes with `Range` after a dropped connection, and ends the stream
//! with an error instead of EOF when the digest is wrong, so a corrupt blob is never
//! registered; the store checks the blob digest again in the same pass.

use std::io::Read;
use std::sync::{Arc, Mutex};

use berth_image::config::{chain_ids, ImageConfig};
use berth_image::reference::familiar;
use berth_image::store::LayerSource;
use berth_image::{ImageRef, ImageStore};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::sync::{mpsc, Semaphore};

use super::config::BerthConfig;
use super::credentials;
use super::error::{ClientError, Result};
use super::manifest::{self, Descriptor, Fetched, Platform};
use super::progress::{short, Progress};
use super::transport::{self, Registry, TransportOptions};

#[derive(Debug, Clone)]
pub struct PullOptions {
    pub transport: TransportOptions,
    /// `--platform`; the host's when `None`.
    pub platform: Option<Platform>,
    /// Layers downloaded at once (Docker's default is 3).
    pub max_concurrent_downloads: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            transport: TransportOptions::default(),
            platform: None,
            max_concurrent_downloads: 3,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PullOutcome {
    /// What Docker prints: `busybox:latest`, `host:5000/x@sha256:...`.
    pub display: String,
    pub image_id: String,
    /// The digest the reference resolved to (the index's, for multi-platform images).
    pub digest: String,
    pub up_to_date: bool,
    pub layers_downloaded: usize,
    pub bytes_downloaded: u64,
}

/// Pulls one reference into `store`.
pub fn pull(
    store: &ImageStore,
    reference: &str,
    opts: &PullOptions,
    progress: &Arc<Progress>,
) -> Result<PullOutcome> {
    let r = ImageRef::parse(reference)?;
    let rt = transport::runtime()?;
    let reg = rt.block_on(connect_for_pull(&r, opts))?;
    pull_ref(&rt, &reg, store, &r, opts, progress)
}

/// `pull --all-tags`: every tag of the repository.
pub fn pull_all_tags(
    store: &ImageStore,
    reference: &str,
    opts: &PullOptions,
    progress: &Arc<Progress>,
) -> Result<Vec<PullOutcome>> {
    let r = ImageRef::parse(reference)?;
    if r.digest.is_some()
        || reference
            .rsplit('/')
            .next()
            .is_some_and(|l| l.contains(':'))
    {
        return Err(ClientError::Invalid {
            registry: r.registry.clone(),
            repository: r.repository.clone(),
            why: "--all-tags takes a repository name without tag or digest".into(),
        });
    }
    let rt = transport::runtime()?;
    let reg = Arc::new(rt.block_on(connect(&r, &r.registry, opts))?);
    let tags = rt.block_on(list_tags(&reg, &r.repository))?;
    let mut out = Vec::new();
    for tag in tags {
        let tr = ImageRef {
            tag: Some(tag),
            ..r.clone()
        };
        out.push(pull_ref(&rt, &reg, store, &tr, opts, progress)?);
    }
    Ok(out)
}

async fn connect(r: &ImageRef, host: &str, opts: &PullOptions) -> Result<Registry> {
    let cfg = BerthConfig::load()?;
    let creds = credentials::get(&r.registry)?;
    Registry::connect(&r.registry, host, &opts.transport, &cfg, creds).await
}

/// Mirrors first (for pulls only, as Docker), then the registry itself.
async fn connect_for_pull(r: &ImageRef, opts: &PullOptions) -> Result<Arc<Registry>> {
    let cfg = BerthConfig::load()?;
    let reference = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or("latest".into());
    for mirror in cfg.registry(&r.registry).mirrors {
        if let Ok(reg) = connect(r, &mirror, opts).await {
            // A mirror that lacks the image is skipped, not an error.
            if manifest::fetch(&reg, &r.repository, &reference)
                .await
                .is_ok()
            {
                return Ok(Arc::new(reg));
            }
        }
    }
    Ok(Arc::new(connect(r, &r.registry, opts).await?))
}

async fn list_tags(reg: &Registry, repository: &str) -> Result<Vec<String>> {
    let scope = format!("repository:{repository}:pull");
    let mut url = reg.url(&format!("{repository}/tags/list"));
    let mut tags = Vec::new();
    loop {
        let u = url.clone();
        let resp = reg
            .send(&format!("listing tags of {repository}"), &scope, |c| {
                c.get(&u)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(reg.error(resp, repository, "tag list").await);
        }
        // Pagination: `Link: </v2/...?last=x&n=y>; rel="next"`.
        let next = resp
            .headers()
            .get("link")
            .and_then(|h| h.to_str().ok())
            .and_then(|l| l.split_once('<').and_then(|(_, r)| r.split_once('>')))
            .map(|(u, _)| reg.resolve_location(u));
        let v: serde_json::Value = resp.json().await.map_err(|e| ClientError::Invalid {
            registry: reg.name.clone(),
            repository: repository.to_string(),
            why: format!("tag list is not JSON: {e}"),
        })?;
        tags.extend(
            v["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string)),
        );
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    Ok(tags)
}

fn display_name(r: &ImageRef) -> String {
    let mut s = familiar(&r.name());
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    } else if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
    s
}

/// One image manifest plus its config, both verified.
struct Resolved {
    top_digest: String,
    manifest: Fetched,
    config: Vec<u8>,
}

async fn resolve(
    reg: &Registry,
    r: &ImageRef,
    want: &Platform,
    explicit: bool,
) -> Result<Resolved> {
    let repo = &r.repository;
    let reference = r
        .digest
        .clone()
        .or(r.tag.clone())
        .unwrap_or("latest".into());
    let top = manifest::fetch(reg, repo, &reference).await?;
    let top_digest = top.digest.clone();
    let manifest = if top.is_index() {
        let desc = manifest::select(&top.parsed, want).ok_or_else(|| ClientError::Invalid {
            registry: reg.name.clone(),
            repository: repo.clone(),
            why: format!(
                "no matching manifest for {want} in the manifest list entries (available: {}); choose one with --platform",
                manifest::available(&top.parsed)
            ),
        })?;
        manifest::fetch(reg, repo, &desc.digest).await?
    } else {
        top
    };
    let config_desc = manifest
        .parsed
        .config
        .clone()
        .ok_or_else(|| ClientError::Invalid {
            registry: reg.name.clone(),
            repository: repo.clone(),
            why: format!("manifest {} has no config", manifest.digest),
        })?;
    let config = fetch_small_blob(reg, repo, &config_desc).await?;
    if explicit {
        let cfg = ImageConfig::parse(&config)?;
        if cfg.os() != want.os || cfg.architecture() != want.architecture {
            return Err(ClientError::Invalid {
                registry: reg.name.clone(),
                repository: repo.clone(),
                why: format!(
                    "image is for {}/{}, not the requested {want}",
                    cfg.os(),
                    cfg.architecture()
                ),
            });
        }
    }
    Ok(Resolved {
        top_digest,
        manifest,
        config,
    })
}

async fn fetch_small_blob(reg: &Registry, repo: &str, desc: &Descriptor) -> Result<Vec<u8>> {
    let scope = format!("repository:{repo}:pull");
    let url = reg.url(&format!("{repo}/blobs/{}", desc.digest));
    let resp = reg
        .send(&format!("GET blob {}", desc.digest), &scope, |c| {
            c.get(&url)
        })
        .await?;
    if !resp.status().is_success() {
        return Err(reg
            .error(resp, repo, &format!("blob {}", desc.digest))
            .await);
    }
    let bytes = resp.bytes().await.map_err(|e| ClientError::Network {
        registry: reg.name.clone(),
        what: format!("reading blob {}", desc.digest),
        why: transport::error_chain(&e),
    })?;
    let got = manifest::sha256(&bytes);
    if got != desc.digest {
        return Err(ClientError::Digest {
            registry: reg.name.clone(),
            repository: repo.to_string(),
            what: format!("blob {}", desc.digest),
            expected: desc.digest.clone(),
            actual: got,
        });
    }
    Ok(bytes.to_vec())
}

fn pull_ref(
    rt: &tokio::runtime::Runtime,
    reg: &Arc<Registry>,
    store: &ImageStore,
    r: &ImageRef,
    opts: &PullOptions,
    progress: &Arc<Progress>,
) -> Result<PullOutcome> {
    let display = display_name(r);
    if let Some(t) = &r.tag {
        progress.line(&format!("{t}: Pulling from {}", familiar(&r.name())));
    }
    let want = opts.platform.clone().unwrap_or_else(Platform::host);
    let resolved = rt.block_on(resolve(reg, r, &want, opts.platform.is_some()))?;
    let config = ImageConfig::parse(&resolved.config)?;
    let diff_ids = config.diff_ids()?;
    let layers = resolved.manifest.parsed.layers.clone();
    if diff_ids.len() != layers.len() {
        return Err(ClientError::Invalid {
            registry: reg.name.clone(),
            repository: r.repository.clone(),
            why: format!(
                "manifest {} lists {} layers but its config has {} diff ids",
                resolved.manifest.digest,
                layers.len(),
                diff_ids.len()
            ),
        });
    }
    let image_id = manifest::sha256(&resolved.config);
    let previous = r
        .tagged()
        .and_then(|t| store.resolve(&t).ok())
        .map(|i| i.id);

    // Which layers to fetch: the same test add_layers makes, so each task has a reader.
    let chains = chain_ids(&diff_ids);
    // Docker lists layers only when something is to be fetched.
    let have_image = store.list()?.iter().any(|i| i.id == image_id);
    let mut fetch: Vec<usize> = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        if store.layer(chain)?.is_some() {
            if !have_image {
                progress.status(&short(&layers[i].digest), "Already exists");
            }
        } else if !fetch.iter().any(|&j| chains[j] == *chain) {
            fetch.push(i);
        }
    }

    let sem = Arc::new(Semaphore::new(opts.max_concurrent_downloads.max(1)));
    let mut readers: Vec<Mutex<Option<ChannelReader>>> =
        (0..layers.len()).map(|_| Mutex::new(None)).collect();
    let mut tasks = Vec::new();
    for &i in &fetch {
        let (tx, rx) = mpsc::channel(16);
        readers[i] = Mutex::new(Some(ChannelReader {
            rx,
            cur: Bytes::new(),
        }));
        let desc = layers[i].clone();
        progress.status(&short(&desc.digest), "Pulling fs layer");
        tasks.push(rt.spawn(download(
            reg.clone(),
            r.repository.clone(),
            desc,
            tx,
            progress.clone(),
            sem.clone(),
        )));
    }
    let keep = BerthConfig::load()?.images.keep_layer_blobs;
    let sources: Vec<LayerSource<'_>> = diff_ids
        .iter()
        .zip(&layers)
        .zip(readers.iter())
        .map(|((diff_id, desc), slot)| LayerSource {
            diff_id: diff_id.clone(),
            blob_digest: Some(desc.digest.clone()),
            // `download` ends the stream with an error on a digest mismatch.
            blob_verified: true,
            keep_blob_as: (keep && !desc.media_type.is_empty()).then(|| desc.media_type.clone()),
            open: Box::new(move || {
                slot.lock()
                    .expect("lock")
                    .take()
                    .map(|r| Box::new(r) as Box<dyn Read + Send>)
                    .ok_or_else(|| std::io::Error::other("layer was not scheduled for download"))
            }),
        })
        .collect();
    let added = store.add_layers(&sources);
    drop(sources);
    drop(readers);
    let results = rt.block_on(futures_util::future::join_all(tasks));
    let mut bytes = 0u64;
    let mut download_err = None;
    for res in results {
        match res {
            Ok(Ok(n)) => bytes += n,
            Ok(Err(e)) => {
                // A digest mismatch explains any extraction error it caused.
                if download_err.is_none() || matches!(e, ClientError::Digest { .. }) {
                    download_err = Some(e);
                }
            }
            Err(join) => {
                download_err.get_or_insert(ClientError::Invalid {
                    registry: reg.name.clone(),
                    repository: r.repository.clone(),
                    why: format!("download task failed: {join}"),
                });
            }
        }
    }
    match (added, download_err) {
        (Ok(_), None) => {}
        (_, Some(e)) => return Err(e),
        (Err(e), None) => return Err(e.into()),
    }
    for &i in &fetch {
        progress.finish(&short(&layers[i].digest), "Pull complete");
    }
    let tags: Vec<ImageRef> = r.tag.iter().map(|_| r.clone()).collect();
    let image = store.add_image(
        &resolved.config,
        Some(&resolved.manifest.bytes),
        &tags,
        Some((&r.name(), &resolved.top_digest)),
    )?;
    debug_assert_eq!(image.id, image_id);
    let up_to_date = previous.as_deref() == Some(image_id.as_str()) && fetch.is_empty();
    progress.line(&format!("Digest: {}", resolved.top_digest));
    progress.line(&if up_to_date {
        format!("Status: Image is up to date for {display}")
    } else {
        format!("Status: Downloaded newer image for {display}")
    });
    Ok(PullOutcome {
        display,
        image_id,
        digest: resolved.top_digest,
        up_to_date,
        layers_downloaded: fetch.len(),
        bytes_downloaded: bytes,
    })
}

/// Feeds the blocking unpacker from a download task.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

const RESUME_ATTEMPTS: u32 = 5;

/// Streams one blob into `tx`, returning its size. Resumes with `Range` where it broke
/// off; a registry that ignores Range (200 instead of 206) is read past the part already
/// forwarded. The digest and size are checked before EOF is signalled.
async fn download(
    reg: Arc<Registry>,
    repo: String,
    desc: Descriptor,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    progress: Arc<Progress>,
    sem: Arc<Semaphore>,
) -> Result<u64> {
    let id = short(&desc.digest);
    let _permit = sem.acquire().await.expect("semaphore open");
    progress.start_bytes(&id, "Downloading", desc.size);
    let scope = format!("repository:{repo}:pull");
    let url = reg.url(&format!("{repo}/blobs/{}", desc.digest));
    let mut hasher = Sha256::new();
    let mut offset = 0u64;
    let mut failures = 0u32;
    let mut receiver_gone = false;
    let fail = |e: ClientError, tx: &mpsc::Sender<std::io::Result<Bytes>>| {
        let _ = tx.try_send(Err(std::io::Error::other(e.to_string())));
        e
    };
    'outer: loop {
        let resp = reg
            .send(&format!("GET blob {}", desc.digest), &scope, |c| {
                let rb = c.get(&url);
                if offset > 0 {
                    rb.header("Range", format!("bytes={offset}-"))
                } else {
                    rb
                }
            })
            .await
            .map_err(|e| fail(e, &tx))?;
        let status = resp.status();
        if !status.is_success() {
            let e = reg
                .error(resp, &repo, &format!("blob {}", desc.digest))
                .await;
            return Err(fail(e, &tx));
        }
        let mut skip = if offset > 0 && status != reqwest::StatusCode::PARTIAL_CONTENT {
            offset
        } else {
            0
        };
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let mut chunk = match chunk {
                Ok(c) => c,
                Err(e) if failures + 1 < RESUME_ATTEMPTS => {
                    let _ = e;
                    failures += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(300 << failures)).await;
                    continue 'outer;
                }
                Err(e) => {
                    let err = ClientError::Network {
                        registry: reg.name.clone(),
                        what: format!("downloading {repo} blob {}", desc.digest),
                        why: transport::error_chain(&e),
                    };
                    return Err(fail(err, &tx));
                }
            };
            if skip > 0 {
                let n = (skip as usize).min(chunk.len());
                let _ = chunk.split_to(n);
                skip -= n as u64;
                if chunk.is_empty() {
                    continue;
                }
            }
            hasher.update(&chunk);
            offset += chunk.len() as u64;
            progress.add_bytes(&id, chunk.len() as u64);
            if desc.size > 0 && offset > desc.size {
                break;
            }
            // Once the unpacker has gone (it failed), keep hashing so a corrupt blob
            // is reported as such rather than as whatever tar error it caused.
            if !receiver_gone && tx.send(Ok(chunk)).await.is_err() {
                receiver_gone = true;
            }
        }
        break;
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != desc.digest || (desc.size > 0 && offset != desc.size) {
        let e = ClientError::Digest {
            registry: reg.name.clone(),
            repository: repo.clone(),
            what: format!("layer {}", desc.digest),
            expected: format!("{} ({} bytes)", desc.digest, desc.size),
            actual: format!("{actual} ({offset} bytes)"),
        };
        progress.finish(&id, "Verification failed");
        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        return Err(e);
    }
    progress.finish(&id, "Download complete");
    Ok(offset)
}
