//! `build --cache-to` / `--cache-from`: flag values turned into cache backends,
//! and the registry backend itself, over the distribution client (same scheme,
//! TLS, insecure-registry and credential rules as `push` and `pull`).

use std::fs;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_build::exec::cache_backend::{BlobData, CacheBackend, LocalLayout};
use berth_build::exec::cache_format::{Blob, OCI_MANIFEST};
use berth_build::exec::cache_spec::{parse_cache_from, parse_cache_to, CacheLocation};
use berth_build::exec::{CacheExport, CacheOptions};
use berth_build::{BuildError, Result};
use berth_distribution::client::config::BerthConfig;
use berth_distribution::client::{ClientError, RepositoryClient, TransportOptions};
use berth_image::ImageRef;

/// Parses every flag (so a bad one fails before anything runs) into backends.
pub fn options(to: &[String], from: &[String]) -> anyhow::Result<CacheOptions> {
    let mut o = CacheOptions::default();
    for v in to {
        let spec = parse_cache_to(v)?;
        o.to.push(CacheExport {
            backend: backend(spec.location),
            mode: spec.mode,
            ignore_error: spec.ignore_error,
        });
    }
    for v in from {
        o.from.push(backend(parse_cache_from(v)?));
    }
    if !o.to.is_empty() || !o.from.is_empty() {
        o.keep_blobs = BerthConfig::load()?.images.keep_layer_blobs;
    }
    Ok(o)
}

fn backend(l: CacheLocation) -> Arc<dyn CacheBackend> {
    match l {
        CacheLocation::Local(dir) => Arc::new(LocalLayout::new(dir)),
        CacheLocation::Registry(reference) => Arc::new(RegistryCache {
            reference,
            client: Mutex::new(None),
        }),
    }
}

/// A cache under a registry tag; connected at its first use, so a build that
/// needs nothing from it does not contact the registry.
struct RegistryCache {
    reference: ImageRef,
    client: Mutex<Option<RepositoryClient>>,
}

impl std::fmt::Debug for RegistryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegistryCache({})", self.reference.canonical())
    }
}

impl RegistryCache {
    fn err(&self, e: impl std::fmt::Display) -> BuildError {
        BuildError::Cache {
            place: self.describe(),
            why: e.to_string(),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&RepositoryClient) -> std::result::Result<T, ClientError>,
    ) -> Result<T> {
        let mut slot = self.client.lock().expect("lock");
        if slot.is_none() {
            let c = RepositoryClient::connect(
                &self.reference.registry,
                &self.reference.repository,
                &TransportOptions::default(),
            )
            .map_err(|e| self.err(e))?;
            *slot = Some(c);
        }
        f(slot.as_ref().expect("connected")).map_err(|e| self.err(e))
    }

    fn reference(&self) -> String {
        self.reference
            .digest
            .clone()
            .or_else(|| self.reference.tag.clone())
            .unwrap_or_else(|| "latest".into())
    }
}

impl CacheBackend for RegistryCache {
    fn describe(&self) -> String {
        self.reference.canonical()
    }

    fn read_manifest(&self) -> Result<Option<Vec<u8>>> {
        let r = self.reference();
        Ok(self.with(|c| c.manifest(&r))?.map(|f| f.bytes))
    }

    fn open_blob(&self, blob: &Blob, tmp: &Path) -> Result<Box<dyn Read + Send>> {
        // Downloaded into an unlinked file: verified before anyone reads it, and
        // gone with the reader whatever happens.
        let hex = blob.digest.trim_start_matches("sha256:");
        let path = tmp.join(format!(
            ".cache-blob-{}-{}",
            std::process::id(),
            &hex[..hex.len().min(16)]
        ));
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| self.err(format!("creating {}: {e}", path.display())))?;
        let _ = fs::remove_file(&path);
        {
            let mut w = BufWriter::new(&mut f);
            self.with(|c| c.blob_to(&blob.digest, blob.size, &mut w))?;
        }
        f.seek(SeekFrom::Start(0))
            .map_err(|e| self.err(format!("reading blob {}: {e}", blob.digest)))?;
        Ok(Box::new(BufReader::new(f)))
    }

    fn write_blob(&self, blob: &Blob, data: BlobData<'_>) -> Result<()> {
        match data {
            BlobData::File(p) => self.with(|c| c.push_blob_file(&blob.digest, blob.size, p)),
            BlobData::Bytes(b) => self.with(|c| c.push_blob_bytes(b)).map(|_| ()),
        }
    }

    fn write_manifest(&self, manifest: &[u8]) -> Result<()> {
        let Some(tag) = self.reference.tag.clone() else {
            return Err(self.err("a cache is exported under a tag, not a digest"));
        };
        self.with(|c| c.put_manifest(&tag, OCI_MANIFEST, manifest))
            .map(|_| ())
    }
}
