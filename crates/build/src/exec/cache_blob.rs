//! The compressed blob of a built layer, for a cache export: the one the store
//! keeps for the layer when there is one (pulled, pushed, imported or exported
//! before), else the layer's exact tar rebuilt from its tar-split and gzipped,
//! as `push` does, and kept by the store for next time when it keeps blobs.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use berth_image::ImageStore;
use sha2::{Digest as _, Sha256};

use super::cache_format::{Blob, OCI_LAYER_GZIP};
use crate::error::{BuildError, Result};

/// The level `push` uses for layers it compresses (see berth-distribution's
/// `compress`): the same bytes, so a cache export and a push of the same layer
/// give the same digest.
const GZIP_LEVEL: u32 = 3;

/// A layer blob ready to be copied or sent; a temporary one is removed on drop.
pub struct LayerBlobFile {
    pub blob: Blob,
    pub path: PathBuf,
    temporary: bool,
}

impl Drop for LayerBlobFile {
    fn drop(&mut self) {
        if self.temporary {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Docker's names for gzip layers become OCI's: the bytes are the same.
fn oci_media_type(t: &str) -> &str {
    match t {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => OCI_LAYER_GZIP,
        other => other,
    }
}

struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hasher.update(&data[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The blob of layer `chain` (a chain id in the store).
pub fn layer_blob(images: &ImageStore, chain: &str, keep: bool) -> Result<LayerBlobFile> {
    let failed = |why: String| BuildError::Cache {
        place: format!("layer {chain}"),
        why,
    };
    let l = images.layer(chain)?.ok_or_else(|| {
        failed("it is no longer in the image store (removed meanwhile?); build again".into())
    })?;
    if let Some(b) = &l.blob {
        let path = images.layer_blob_path(&l.dir);
        if path.is_file() {
            return Ok(LayerBlobFile {
                blob: Blob {
                    media_type: oci_media_type(&b.media_type).to_string(),
                    digest: b.digest.clone(),
                    size: b.size,
                },
                path,
                temporary: false,
            });
        }
    }
    // Beside the layer, so the store can adopt it with a rename.
    let tmp = images
        .layers_dir()
        .join(&l.dir)
        .join(format!(".cache-export-{}", std::process::id()));
    let written = (|| -> std::io::Result<(String, u64)> {
        let file = fs::File::create(&tmp)?;
        let hashing = Hashing {
            inner: BufWriter::new(file),
            hasher: Sha256::new(),
            n: 0,
        };
        let mut gz = flate2::write::GzEncoder::new(hashing, flate2::Compression::new(GZIP_LEVEL));
        berth_image::layer::reassemble(
            &images.layer_tar_split(&l.dir),
            &images.layer_diff_path(&l.dir),
            &mut gz,
        )
        .map_err(|e| std::io::Error::other(format!("rebuilding its tar: {e}")))?;
        let mut h = gz.finish()?;
        h.flush()?;
        h.inner
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        Ok((format!("sha256:{}", hex::encode(h.hasher.finalize())), h.n))
    })();
    let (digest, size) = match written {
        Ok(x) => x,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(failed(format!("compressing it: {e}")));
        }
    };
    let blob = Blob {
        media_type: OCI_LAYER_GZIP.to_string(),
        digest,
        size,
    };
    if keep {
        let kept = berth_image::store::LayerBlob {
            digest: blob.digest.clone(),
            size: blob.size,
            media_type: blob.media_type.clone(),
        };
        images.keep_layer_blob(chain, &tmp, &kept)?;
        let path = images.layer_blob_path(&l.dir);
        if path.is_file() {
            return Ok(LayerBlobFile {
                blob,
                path,
                temporary: false,
            });
        }
        return Err(failed(
            "it was removed while its blob was being written; build again".into(),
        ));
    }
    Ok(LayerBlobFile {
        blob,
        path: tmp,
        temporary: true,
    })
}
