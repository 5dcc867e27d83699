//! Blobs and manifests of one repository, for content that is no image berth
//! stores (a build cache): connect once (same scheme, TLS and credential rules as
//! pull and push), then fetch or send single blobs and manifests, each verified
//! against its digest.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};

use super::config::BerthConfig;
use super::credentials;
use super::error::{io, ClientError, Result};
use super::manifest::{self, Fetched};
use super::transport::{self, Registry, TransportOptions};
use super::upload::{self, put_manifest, Source};

/// Blobs larger than this go up in PATCH chunks.
const CHUNK: u64 = 16 << 20;

pub struct RepositoryClient {
    rt: tokio::runtime::Runtime,
    reg: Registry,
    repository: String,
}

impl RepositoryClient {
    /// Connects to `registry` for `repository` (`127.0.0.1:5000`, `team/app`).
    pub fn connect(
        registry: &str,
        repository: &str,
        opts: &TransportOptions,
    ) -> Result<RepositoryClient> {
        let cfg = BerthConfig::load()?;
        let creds = credentials::get(registry)?;
        let rt = transport::runtime()?;
        let reg = rt.block_on(Registry::connect(registry, registry, opts, &cfg, creds))?;
        Ok(RepositoryClient {
            rt,
            reg,
            repository: repository.to_string(),
        })
    }

    /// The manifest `reference` (tag or digest) names; `None` when there is none.
    pub fn manifest(&self, reference: &str) -> Result<Option<Fetched>> {
        match self
            .rt
            .block_on(manifest::fetch(&self.reg, &self.repository, reference))
        {
            Ok(f) => Ok(Some(f)),
            Err(ClientError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads blob `digest` into `out`, hashing on the way: a blob whose digest
    /// or size is not the one asked for is an error (`ClientError::Digest`), and
    /// what was written must then be thrown away.
    pub fn blob_to(&self, digest: &str, size: u64, out: &mut dyn Write) -> Result<()> {
        let repo = &self.repository;
        self.rt.block_on(async {
            let reg = &self.reg;
            let scope = format!("repository:{repo}:pull");
            let url = reg.url(&format!("{repo}/blobs/{digest}"));
            let resp = reg
                .send(&format!("GET blob {digest}"), &scope, |c| c.get(&url))
                .await?;
            if !resp.status().is_success() {
                return Err(reg.error(resp, repo, &format!("blob {digest}")).await);
            }
            let mut hasher = Sha256::new();
            let mut n = 0u64;
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| ClientError::Network {
                    registry: reg.name.clone(),
                    what: format!("downloading {repo} blob {digest}"),
                    why: transport::error_chain(&e),
                })?;
                hasher.update(&chunk);
                n += chunk.len() as u64;
                if n > size {
                    break;
                }
                out.write_all(&chunk)
                    .map_err(io(format!("writing blob {digest}")))?;
            }
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != digest || n != size {
                return Err(ClientError::Digest {
                    registry: reg.name.clone(),
                    repository: repo.clone(),
                    what: format!("blob {digest}"),
                    expected: format!("{digest} ({size} bytes)"),
                    actual: format!("{actual} ({n} bytes)"),
                });
            }
            out.flush().map_err(io(format!("writing blob {digest}")))?;
            Ok(())
        })
    }

    /// Uploads the file `path` as blob `digest` (`size` bytes), unless the
    /// repository has it.
    pub fn push_blob_file(&self, digest: &str, size: u64, path: &Path) -> Result<()> {
        self.rt.block_on(upload::upload(
            &self.reg,
            &self.repository,
            digest,
            size,
            Source::File(path.to_path_buf()),
            CHUNK,
            None,
            None,
        ))?;
        Ok(())
    }

    /// Uploads `bytes` as a blob, unless the repository has it; returns its digest.
    pub fn push_blob_bytes(&self, bytes: &[u8]) -> Result<String> {
        let digest = manifest::sha256(bytes);
        self.rt.block_on(upload::upload(
            &self.reg,
            &self.repository,
            &digest,
            bytes.len() as u64,
            Source::Memory(Bytes::copy_from_slice(bytes)),
            CHUNK,
            None,
            None,
        ))?;
        Ok(digest)
    }

    /// Puts `bytes` as the manifest of `tag`; returns its digest.
    pub fn put_manifest(&self, tag: &str, media_type: &str, bytes: &[u8]) -> Result<String> {
        let digest = manifest::sha256(bytes);
        self.rt.block_on(put_manifest(
            &self.reg,
            &self.repository,
            tag,
            media_type,
            bytes,
            &digest,
        ))?;
        Ok(digest)
    }
}
