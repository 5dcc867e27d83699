//! On-disk layout of a registry root.
//!
//! ```text
//! ROOT/blobs/sha256/<hex[0..2]>/<hex>        blob bytes (manifests too), immutable
//! ROOT/uploads/<uuid>/data                   an upload in progress (resumable by uuid)
//! ROOT/uploads/<uuid>/repo                   the repository the upload belongs to
//! ROOT/repositories/<name>/_layers/sha256/<hex>                   blob link (empty file)
//! ROOT/repositories/<name>/_manifests/revisions/sha256/<hex>      manifest link; content = media type
//! ROOT/repositories/<name>/_manifests/tags/<tag>                  content = manifest digest
//! ROOT/repositories/<name>/_referrers/sha256/<subject hex>/<referrer hex>   referrers index
//! ROOT/tmp/                                  staging for atomic renames
//! ```
//!
//! Concurrency: blobs are written under `uploads/` and renamed into place only
//! after their digest is verified and the file fsynced, so readers never see a
//! partial blob and a killed server leaves at most a stale upload. Every link
//! and tag file is written to `tmp/` and renamed, so each is replaced
//! atomically; two pushes of the same tag race to a last-writer-wins result,
//! which is what the spec expects. Nothing here takes locks across files.

mod fsutil;
pub use fsutil::random_id as random_key;
pub mod gc;
mod repos;
mod uploads;

use std::path::{Path, PathBuf};

use berth_store::Digest;

pub use repos::ManifestLink;
pub use uploads::{UploadInfo, Uploads};

/// A registry root directory.
#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
    pub uploads: Uploads,
}

impl Storage {
    /// Opens (creating if needed) the registry root at `root`.
    pub fn open(root: &Path) -> std::io::Result<Storage> {
        for d in ["blobs/sha256", "uploads", "repositories", "tmp"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        Ok(Storage {
            root: root.to_owned(),
            uploads: Uploads::new(root.join("uploads"), root.join("tmp")),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blob_path(&self.root, d)
    }

    /// Size of a stored blob, if present.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        std::fs::metadata(self.blob_path(d)).ok().map(|m| m.len())
    }

    /// Stores small content (manifests) in the blob store.
    pub fn put_blob_bytes(&self, d: &Digest, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.blob_path(d);
        if path.exists() {
            return Ok(());
        }
        fsutil::write_atomic(&self.root.join("tmp"), &path, bytes, true)
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

pub(crate) fn blob_path(root: &Path, d: &Digest) -> PathBuf {
    root.join("blobs")
        .join(d.algorithm())
        .join(&d.hex()[..2])
        .join(d.hex())
}
