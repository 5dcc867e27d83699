//! Blob uploads for `push`: a blob whose digest is known (HEAD to skip it, a
//! cross-repository mount, else one PUT or PATCH chunks), and a blob produced while it
//! is sent (one streamed PATCH, then the PUT that names the digest computed on the way).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use reqwest::StatusCode;
use tokio::sync::mpsc;

use super::error::{io, ClientError, Result};
use super::manifest::OCI_MANIFEST;
use super::progress::Progress;
use super::transport::Registry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Uploaded {
    Existed,
    Mounted(String),
    Pushed,
}

pub(crate) enum Source {
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

fn scope(repo: &str, mount_from: Option<&str>) -> String {
    match mount_from {
        Some(from) => format!("repository:{repo}:pull,push repository:{from}:pull"),
        None => format!("repository:{repo}:pull,push"),
    }
}

/// Uploads a blob whose digest and size are known, unless the registry has it or can
/// mount it from `mount_from`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn upload(
    reg: &Registry,
    repo: &str,
    digest: &str,
    size: u64,
    src: Source,
    chunk_size: u64,
    mount_from: Option<&str>,
    progress: Option<(&Arc<Progress>, &str)>,
) -> Result<Uploaded> {
    let scope = scope(repo, mount_from);
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
        finish(reg, repo, &scope, &location, digest).await?;
    }
    Ok(Uploaded::Pushed)
}

/// What a streamed upload's producer reports once it has written the whole blob.
pub(crate) struct Produced {
    pub digest: String,
    pub size: u64,
}

/// Uploads a blob while `produce` writes it: the bytes go out in one streamed PATCH as
/// they come (no temp file, no wait for the whole blob), and the final PUT names the
/// digest the producer computed. A digest is only known at the end, so there is no
/// HEAD or mount; a kept blob makes the next push of the same layer use [`upload`].
pub(crate) async fn upload_streamed(
    reg: &Registry,
    repo: &str,
    what: &str,
    produce: impl FnOnce(mpsc::Sender<std::io::Result<Bytes>>) -> Result<Produced> + Send + 'static,
) -> Result<Produced> {
    let scope = scope(repo, None);
    let start_url = reg.url(&format!("{repo}/blobs/uploads/"));
    let resp = reg
        .send(&format!("starting upload of {what}"), &scope, |c| {
            c.post(&start_url).header("Content-Length", "0")
        })
        .await?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(reg.error(resp, repo, "blob upload").await);
    }
    let location = location(reg, &resp, repo)?;
    // A few chunks in flight keep the compressor busy while the socket drains.
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(8);
    let producer = tokio::task::spawn_blocking(move || produce(tx));
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async {
        rx.recv().await.map(|item| (item, rx))
    }));
    let url = location.clone();
    let sent = reg
        .send_once(&format!("uploading {what}"), &scope, move |c| {
            c.patch(&url)
                .header("Content-Type", "application/octet-stream")
                .body(body)
        })
        .await;
    let produced = producer.await.map_err(|e| ClientError::Invalid {
        registry: reg.name.clone(),
        repository: repo.to_string(),
        why: format!("compressing {what} failed: {e}"),
    })?;
    // A producer that failed on its own (unreadable layer) explains a broken request;
    // one that failed because the request ended (closed channel) does not, and the
    // registry's answer says what went wrong.
    let consequence = matches!(&produced, Err(ClientError::Io { source, .. })
        if source.kind() == std::io::ErrorKind::BrokenPipe);
    if let Err(e) = produced {
        if !consequence {
            return Err(e);
        }
        let resp = sent?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(reg.error(resp, repo, &format!("upload of {what}")).await);
        }
        return Err(e);
    }
    let produced = produced?;
    let resp = sent?;
    if resp.status() != StatusCode::ACCEPTED {
        return Err(reg.error(resp, repo, &format!("upload of {what}")).await);
    }
    let location = self::location(reg, &resp, repo)?;
    finish(reg, repo, &scope, &location, &produced.digest).await?;
    Ok(produced)
}

/// The PUT that closes an upload whose bytes were all PATCHed.
async fn finish(
    reg: &Registry,
    repo: &str,
    scope: &str,
    location: &str,
    digest: &str,
) -> Result<()> {
    let put_url = with_query(location, &format!("digest={digest}"));
    let resp = reg
        .send(&format!("finishing upload of {digest}"), scope, |c| {
            c.put(&put_url).header("Content-Length", "0")
        })
        .await?;
    if resp.status() != StatusCode::CREATED {
        return Err(reg
            .error(resp, repo, &format!("upload of blob {digest}"))
            .await);
    }
    Ok(())
}

pub(crate) async fn put_manifest(
    reg: &Registry,
    repo: &str,
    tag: &str,
    media_type: &str,
    bytes: &[u8],
    digest: &str,
) -> Result<()> {
    let scope = format!("repository:{repo}:pull,push");
    let url = reg.url(&format!("{repo}/manifests/{tag}"));
    let body = Bytes::copy_from_slice(bytes);
    let resp = reg
        .send(&format!("PUT manifest {repo}:{tag}"), &scope, |c| {
            c.put(&url)
                .header("Content-Type", media_type)
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

/// The media type a manifest declares, OCI's when it does not say (an OCI manifest
/// may omit it).
pub(crate) fn manifest_media_type(bytes: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| OCI_MANIFEST.to_string())
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
