//! Where an exported build cache lives: the [`CacheBackend`] trait the export and
//! import speak to, and its implementation for a local OCI image layout directory.
//! (The registry one is the berth binary's, over the distribution client.)

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::cache_format::{self, Blob};
use crate::error::{BuildError, Result};

/// A blob to write: a file, or bytes in memory (config and manifest).
pub enum BlobData<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

pub trait CacheBackend: Send + Sync + std::fmt::Debug {
    /// How messages name it: the directory, or the registry reference.
    fn describe(&self) -> String;
    /// The cache manifest's bytes; `None` when no cache has been exported there.
    fn read_manifest(&self) -> Result<Option<Vec<u8>>>;
    /// The content of `blob`, already checked against its digest and size (a
    /// mismatch is an error). `tmp` is a directory for a downloaded copy.
    fn open_blob(&self, blob: &Blob, tmp: &Path) -> Result<Box<dyn Read + Send>>;
    /// Stores `blob` (skipped when it is there already).
    fn write_blob(&self, blob: &Blob, data: BlobData<'_>) -> Result<()>;
    /// Makes `manifest` the cache's manifest: written last, once every blob it
    /// names is in place, so a reader never sees a manifest without its blobs.
    fn write_manifest(&self, manifest: &[u8]) -> Result<()>;
}

/// A cache in an OCI image layout directory.
#[derive(Debug, Clone)]
pub struct LocalLayout {
    dir: PathBuf,
}

fn io_err(place: &Path, what: String, e: std::io::Error) -> BuildError {
    BuildError::Cache {
        place: place.display().to_string(),
        why: format!("{what}: {e}"),
    }
}

/// The sha256 and length of what `r` yields.
pub(crate) fn digest_of(mut r: impl Read) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((format!("sha256:{}", hex::encode(h.finalize())), n))
}

impl LocalLayout {
    pub fn new(dir: impl Into<PathBuf>) -> LocalLayout {
        LocalLayout { dir: dir.into() }
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        match digest.strip_prefix("sha256:") {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(self.dir.join("blobs/sha256").join(hex))
            }
            _ => Err(BuildError::Cache {
                place: self.describe(),
                why: format!("{digest:?} is not a sha256 digest; the cache is corrupt"),
            }),
        }
    }

    /// Fills `dest` through a temp file and a rename, so it is whole or absent.
    fn put_file(
        &self,
        dest: &Path,
        fill: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
    ) -> Result<()> {
        let parent = dest.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent)
            .map_err(|e| io_err(&self.dir, format!("creating {}", parent.display()), e))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
        let res = (|| {
            let mut f = fs::File::create(&tmp)?;
            fill(&mut f)?;
            f.flush()?;
            f.sync_all()?;
            fs::rename(&tmp, dest)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res.map_err(|e| io_err(&self.dir, format!("writing {}", dest.display()), e))
    }
}

impl CacheBackend for LocalLayout {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn read_manifest(&self) -> Result<Option<Vec<u8>>> {
        let index_path = self.dir.join("index.json");
        let idx = match fs::read(&index_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&self.dir, "reading index.json".into(), e)),
        };
        let desc = cache_format::manifest_in_index(&idx).map_err(|why| BuildError::Cache {
            place: self.describe(),
            why,
        })?;
        let mut bytes = Vec::new();
        self.open_blob(&desc, &self.dir)?
            .read_to_end(&mut bytes)
            .map_err(|e| io_err(&self.dir, format!("reading manifest {}", desc.digest), e))?;
        Ok(Some(bytes))
    }

    fn open_blob(&self, blob: &Blob, _tmp: &Path) -> Result<Box<dyn Read + Send>> {
        let path = self.blob_path(&blob.digest)?;
        let open = || {
            fs::File::open(&path)
                .map_err(|e| io_err(&self.dir, format!("opening blob {}", blob.digest), e))
        };
        let (digest, size) = digest_of(std::io::BufReader::new(open()?))
            .map_err(|e| io_err(&self.dir, format!("reading blob {}", blob.digest), e))?;
        if digest != blob.digest || size != blob.size {
            return Err(BuildError::Cache {
                place: self.describe(),
                why: format!(
                    "blob {} failed digest verification: its content is {digest} ({size} bytes), \
                     the manifest says {} ({} bytes); the cache is corrupt, nothing was imported \
                     from it: export it again or leave out this --cache-from",
                    path.display(),
                    blob.digest,
                    blob.size
                ),
            });
        }
        Ok(Box::new(std::io::BufReader::new(open()?)))
    }

    fn write_blob(&self, blob: &Blob, data: BlobData<'_>) -> Result<()> {
        let dest = self.blob_path(&blob.digest)?;
        // A blob is named by its digest: one of the right size is the same blob,
        // unless the directory was tampered with (which an import then reports).
        if fs::metadata(&dest).is_ok_and(|m| m.len() == blob.size) {
            return Ok(());
        }
        // Copied, never hard-linked: the cache directory must not share an inode
        // with the store's blob, or damage to one would reach the other.
        self.put_file(&dest, |f| match data {
            BlobData::Bytes(b) => f.write_all(b),
            BlobData::File(p) => std::io::copy(&mut fs::File::open(p)?, f).map(|_| ()),
        })
    }

    fn write_manifest(&self, manifest: &[u8]) -> Result<()> {
        let desc = Blob {
            media_type: cache_format::OCI_MANIFEST.into(),
            digest: cache_format::sha256(manifest),
            size: manifest.len() as u64,
        };
        self.write_blob(&desc, BlobData::Bytes(manifest))?;
        self.put_file(&self.dir.join("oci-layout"), |f| {
            f.write_all(cache_format::OCI_LAYOUT.as_bytes())
        })?;
        self.put_file(&self.dir.join("index.json"), |f| {
            f.write_all(&cache_format::index(&desc))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layout_round_trips_and_catches_corruption() {
        let d = tempfile::tempdir().unwrap();
        let l = LocalLayout::new(d.path().join("cache"));
        assert!(l.read_manifest().unwrap().is_none());
        let data = b"layer bytes".to_vec();
        let blob = Blob {
            media_type: cache_format::OCI_LAYER_GZIP.into(),
            digest: cache_format::sha256(&data),
            size: data.len() as u64,
        };
        l.write_blob(&blob, BlobData::Bytes(&data)).unwrap();
        l.write_manifest(b"{\"m\":1}").unwrap();
        assert_eq!(l.read_manifest().unwrap().unwrap(), b"{\"m\":1}");
        assert!(d.path().join("cache/oci-layout").is_file());
        let mut got = Vec::new();
        l.open_blob(&blob, d.path())
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, data);
        // One flipped byte, same size.
        let path = l.blob_path(&blob.digest).unwrap();
        fs::write(&path, b"layer bytez").unwrap();
        let e = l.open_blob(&blob, d.path()).err().unwrap().to_string();
        assert!(e.contains("failed digest verification"), "{e}");
        assert!(l.blob_path("sha256:../../etc").is_err());
    }
}
