//! Blob uploads: streamed to `uploads/<uuid>/data`, hashed on the way in,
//! verified and renamed into the blob store on completion.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use berth_store::Digest;
use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fsutil;
use crate::server::error::{RegistryError, Result};

/// Large buffered writes: hyper hands us ~16 KiB frames and every tokio file
/// write is a hop to the blocking pool, so batch them.
const WRITE_BUF: usize = 1 << 20;

/// In-memory progress of one upload. The hash state covers exactly `offset`
/// bytes of the data file; when it does not (after a restart or a failed
/// request) completion rehashes the file instead.
#[derive(Debug)]
struct State {
    hasher: Sha256,
    offset: u64,
}

#[derive(Debug)]
pub struct Uploads {
    dir: PathBuf,
    tmp: PathBuf,
    /// One async lock per live upload serialises PATCH/PUT on the same uuid.
    live: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<State>>>>>,
}

#[derive(Debug, Clone, Copy)]
pub struct UploadInfo {
    pub size: u64,
}

impl Uploads {
    pub fn new(dir: PathBuf, tmp: PathBuf) -> Uploads {
        Uploads {
            dir,
            tmp,
            live: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_for(&self, uuid: &str) -> Arc<tokio::sync::Mutex<Option<State>>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.entry(uuid.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Some(State {
                    hasher: Sha256::new(),
                    offset: 0,
                })))
            })
            .clone()
    }

    fn forget(&self, uuid: &str) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.remove(uuid);
    }

    /// Starts an upload for repository `repo`; returns its uuid.
    pub async fn start(&self, repo: &str) -> Result<String> {
        let uuid = fsutil::random_id();
        let dir = self.dir.join(&uuid);
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(dir.join("data"), b"").await?;
        tokio::fs::write(dir.join("repo"), repo.as_bytes()).await?;
        self.lock_for(&uuid);
        Ok(uuid)
    }

    /// Checks that `uuid` is an upload of `repo` and returns its data path.
    fn data_path(&self, repo: &str, uuid: &str) -> Result<PathBuf> {
        let unknown = || RegistryError::BlobUploadUnknown(format!("upload {uuid} not found"));
        if uuid.is_empty() || !uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let dir = self.dir.join(uuid);
        match std::fs::read_to_string(dir.join("repo")) {
            Ok(r) if r == repo => Ok(dir.join("data")),
            _ => Err(unknown()),
        }
    }

    pub async fn info(&self, repo: &str, uuid: &str) -> Result<UploadInfo> {
        let path = self.data_path(repo, uuid)?;
        let size = tokio::fs::metadata(&path).await?.len();
        Ok(UploadInfo { size })
    }

    /// Appends a chunk. `range` is the client's `Content-Range` (inclusive
    /// start-end); a start other than the current size is out of order (416).
    pub async fn append<S, E>(
        &self,
        repo: &str,
        uuid: &str,
        range: Option<(u64, u64)>,
        body: S,
    ) -> Result<UploadInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = self.data_path(repo, uuid)?;
        let lock = self.lock_for(uuid);
        let mut state = lock.lock().await;
        let size = tokio::fs::metadata(&path).await?.len();
        if let Some((start, end)) = range {
            if start != size || end < start {
                return Err(RegistryError::RangeInvalid {
                    detail: format!("chunk starts at {start}, upload has {size} bytes"),
                    size,
                });
            }
        }
        if state.as_ref().map(|s| s.offset) != Some(size) {
            *state = None;
        }
        let written = write_stream(&path, body, state.as_mut()).await;
        match written {
            Ok(n) => {
                if let Some((start, end)) = range {
                    if end - start + 1 != n {
                        // The data is in; the mismatch is the client's to fix,
                        // and the hash state stays truthful to the file.
                        return Err(RegistryError::SizeInvalid(format!(
                            "Content-Range says {} bytes, body had {n}",
                            end - start + 1
                        )));
                    }
                }
                if let Some(s) = state.as_mut() {
                    s.offset = size + n;
                }
                Ok(UploadInfo { size: size + n })
            }
            Err(e) => {
                // The file may hold part of the chunk: rehash at completion.
                *state = None;
                Err(e)
            }
        }
    }

    /// Finishes an upload: appends the final chunk (if any), verifies the
    /// digest and moves the data into the blob store. On a mismatch the upload
    /// is discarded and nothing is stored.
    pub async fn finish<S, E>(
        &self,
        root: &Path,
        repo: &str,
        uuid: &str,
        expected: &Digest,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.append(repo, uuid, None, body).await?;
        let path = self.data_path(repo, uuid)?;
        let lock = self.lock_for(uuid);
        let mut state = lock.lock().await;
        let size = tokio::fs::metadata(&path).await?.len();
        let actual = match state.take() {
            Some(s) if s.offset == size => Digest::from_sha256(s.hasher.finalize().into()),
            _ => hash_file(&path).await?,
        };
        if &actual != expected {
            drop(state);
            self.cancel(repo, uuid).await?;
            return Err(RegistryError::DigestInvalid(format!(
                "content of {size} bytes has digest {actual}, not {expected}"
            )));
        }
        let dest = super::blob_path(root, expected);
        commit(&path, &dest).await?;
        drop(state);
        self.forget(uuid);
        let _ = tokio::fs::remove_dir_all(self.dir.join(uuid)).await;
        Ok(size)
    }

    pub async fn cancel(&self, repo: &str, uuid: &str) -> Result<()> {
        self.data_path(repo, uuid)?;
        self.forget(uuid);
        tokio::fs::remove_dir_all(self.dir.join(uuid)).await?;
        Ok(())
    }

    /// Stages a whole blob (monolithic upload) and commits it if it hashes to
    /// `expected`.
    pub async fn put_whole<S, E>(
        &self,
        root: &Path,
        repo: &str,
        expected: &Digest,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let uuid = self.start(repo).await?;
        self.finish(root, repo, &uuid, expected, body).await
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }
}

async fn write_stream<S, E>(path: &Path, mut body: S, mut state: Option<&mut State>) -> Result<u64>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await?;
    let mut w = tokio::io::BufWriter::with_capacity(WRITE_BUF, file);
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk
            .map_err(|e| RegistryError::BlobUploadInvalid(format!("reading request body: {e}")))?;
        if let Some(s) = state.as_deref_mut() {
            s.hasher.update(&chunk);
        }
        w.write_all(&chunk).await?;
        n += chunk.len() as u64;
    }
    w.flush().await?;
    Ok(n)
}

async fn hash_file(path: &Path) -> Result<Digest> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; WRITE_BUF];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Digest::from_sha256(h.finalize().into()))
}

/// fsync, then rename into place: the blob path only ever names complete,
/// verified content.
async fn commit(src: &Path, dest: &Path) -> Result<()> {
    let src = src.to_owned();
    let dest = dest.to_owned();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if dest.exists() {
            return Ok(());
        }
        std::fs::File::open(&src)?.sync_all()?;
        let parent = dest.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(parent)?;
        std::fs::rename(&src, &dest)?;
        fsutil::sync_dir(parent);
        Ok(())
    })
    .await
    .map_err(RegistryError::internal)??;
    Ok(())
}
