//! Content-addressed blob store: `<root>/blobs/sha256/<hex>`.
//!
//! The invariant: a file under a digest name always has exactly that content.
//! Blobs are therefore written to a locked temp file in `<root>/tmp` (same
//! filesystem, so the final rename is atomic), hashed on the way, checked,
//! fsynced, and only then renamed into place, followed by an fsync of the
//! directory so the rename itself survives a power loss.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestWriter};
use crate::error::StoreError;
use crate::tmp;

pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// `dir` is the `blobs/sha256` directory, `tmp` the state root's tmp dir.
    pub(crate) fn new(dir: PathBuf, tmp: PathBuf) -> Self {
        BlobStore { dir, tmp }
    }

    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    pub fn exists(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    pub fn size(&self, d: &Digest) -> Result<Option<u64>, StoreError> {
        let path = self.path(d);
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("stat blob", path, e)),
        }
    }

    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let (file, tmp_path) = tmp::create_locked(&self.tmp, tmp::BLOB_PREFIX)?;
        Ok(BlobWriter {
            inner: Some(DigestWriter::new(BufWriter::with_capacity(
                128 * 1024,
                file,
            ))),
            tmp_path,
            dir: self.dir.clone(),
        })
    }

    pub fn put(&self, data: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of_bytes(data);
        if !self.exists(&digest) {
            self.write_all(data, &digest)?;
        }
        Ok(digest)
    }

    /// Stores `data` only if it hashes to `expected`.
    pub fn put_expected(&self, data: &[u8], expected: &Digest) -> Result<(), StoreError> {
        let actual = Digest::of_bytes(data);
        if &actual != expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual,
                size: data.len() as u64,
            });
        }
        if !self.exists(expected) {
            self.write_all(data, expected)?;
        }
        Ok(())
    }

    fn write_all(&self, data: &[u8], expected: &Digest) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        w.write_all(data)
            .map_err(|e| StoreError::io("write temp file", &w.tmp_path, e))?;
        w.commit(Some(expected))?;
        Ok(())
    }

    /// Reads a whole blob and verifies it against its digest, so a blob
    /// damaged on disk is reported instead of being handed on.
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.path(d);
        let mut file = self.open(d)?;
        let mut data = Vec::new();
        file.read_to_end(&mut data)
            .map_err(|e| StoreError::io("read blob", &path, e))?;
        let actual = Digest::of_bytes(&data);
        if &actual != d {
            return Err(StoreError::BlobCorrupt {
                digest: d.clone(),
                path,
                actual,
            });
        }
        Ok(data)
    }

    /// Opens a blob for streaming; the caller is responsible for verifying
    /// the content if it needs to (e.g. through a [`DigestWriter`]).
    pub fn open(&self, d: &Digest) -> Result<File, StoreError> {
        let path = self.path(d);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::BlobNotFound {
                    digest: d.clone(),
                    path,
                }
            } else {
                StoreError::io("open blob", path, e)
            }
        })
    }

    pub fn delete(&self, d: &Digest) -> Result<(), StoreError> {
        let path = self.path(d);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("delete blob", path, e)),
        }
    }

    /// All stored blobs, sorted. Names that are not valid digests cannot have
    /// been written by us and are skipped rather than failing the listing.
    pub fn list(&self) -> Result<Vec<Digest>, StoreError> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| StoreError::io("read directory", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("read directory", &self.dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Streams a blob into the store. Nothing appears under a digest name until
/// [`BlobWriter::commit`] has verified it; dropping the writer without
/// committing removes the temp file.
pub struct BlobWriter {
    // `None` only after commit has taken it.
    inner: Option<DigestWriter<BufWriter<File>>>,
    tmp_path: PathBuf,
    dir: PathBuf,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.inner.as_ref().map_or(0, |w| w.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Verifies the content against `expected` (if given) and moves it into
    /// place. If the blob already exists the temp file is discarded and this
    /// succeeds: identical digest means identical content.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let tmp_path = self.tmp_path.clone();
        let inner = self.inner.take().expect("BlobWriter used after commit");
        let (buf, digest, size) = inner.finish();
        let file = buf
            .into_inner()
            .map_err(|e| StoreError::io("write temp file", &tmp_path, e.into_error()))?;
        let result = self.install(file, &digest, size, expected);
        if result.is_err() {
            let _ = fs::remove_file(&tmp_path);
        }
        result.map(|()| (digest, size))
    }

    fn install(
        &self,
        file: File,
        digest: &Digest,
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<(), StoreError> {
        if let Some(expected) = expected {
            if expected != digest {
                return Err(StoreError::DigestMismatch {
                    expected: expected.clone(),
                    actual: digest.clone(),
                    size,
                });
            }
        }
        let dest = self.dir.join(digest.hex());
        if dest.is_file() {
            drop(file);
            let _ = fs::remove_file(&self.tmp_path);
            return Ok(());
        }
        // Data must be durable before the name points at it, or a power loss
        // could leave a correctly named file with missing content.
        file.sync_all()
            .map_err(|e| StoreError::io("fsync temp file", &self.tmp_path, e))?;
        // Renamed while our lock is still held, so cleanup cannot race us.
        fs::rename(&self.tmp_path, &dest)
            .map_err(|e| StoreError::io("move blob into place at", &dest, e))?;
        drop(file);
        sync_dir(&self.dir)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("BlobWriter already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.inner.take().is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        let tmp = dir.path().join("tmp");
        fs::create_dir_all(&blobs).unwrap();
        fs::create_dir_all(&tmp).unwrap();
        (dir, BlobStore::new(blobs, tmp))
    }

    fn tmp_entries(root: &Path) -> usize {
        fs::read_dir(root.join("tmp")).unwrap().count()
    }

    #[test]
    fn put_read_exists_delete_list() {
        let (root, s) = store();
        let a = s.put(b"alpha").unwrap();
        let b = s.put(b"beta").unwrap();
        assert_eq!(a, Digest::of_bytes(b"alpha"));
        assert!(s.exists(&a));
        assert_eq!(s.size(&a).unwrap(), Some(5));
        assert_eq!(s.read(&a).unwrap(), b"alpha");
        let mut listed = vec![a.clone(), b.clone()];
        listed.sort();
        assert_eq!(s.list().unwrap(), listed);

        // Storing the same content again is a no-op.
        assert_eq!(s.put(b"alpha").unwrap(), a);

        s.delete(&a).unwrap();
        assert!(!s.exists(&a));
        assert_eq!(s.size(&a).unwrap(), None);
        s.delete(&a).unwrap();
        let err = s.read(&a).unwrap_err();
        assert!(matches!(err, StoreError::BlobNotFound { .. }));
        assert!(err.to_string().contains(a.as_str()), "{err}");
        assert_eq!(s.list().unwrap(), vec![b]);
        assert_eq!(tmp_entries(root.path()), 0);
    }

    #[test]
    fn put_expected_mismatch_stores_nothing() {
        let (root, s) = store();
        let wrong = Digest::of_bytes(b"other");
        let err = s.put_expected(b"data", &wrong).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(wrong.as_str()));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(tmp_entries(root.path()), 0);

        s.put_expected(b"data", &Digest::of_bytes(b"data")).unwrap();
        assert_eq!(s.list().unwrap(), vec![Digest::of_bytes(b"data")]);
    }

    #[test]
    fn streaming_writer_mismatch_removes_temp() {
        let (root, s) = store();
        let mut w = s.writer().unwrap();
        w.write_all(b"streamed").unwrap();
        let err = w.commit(Some(&Digest::of_bytes(b"nope"))).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }));
        assert!(s.list().unwrap().is_empty());
        assert_eq!(tmp_entries(root.path()), 0);
    }

    #[test]
    fn commit_of_existing_blob_succeeds() {
        let (root, s) = store();
        let d = s.put(b"same").unwrap();
        let mut w = s.writer().unwrap();
        w.write_all(b"same").unwrap();
        assert_eq!(w.len(), 4);
        assert_eq!(w.commit(Some(&d)).unwrap(), (d.clone(), 4));
        assert_eq!(s.read(&d).unwrap(), b"same");
        assert_eq!(tmp_entries(root.path()), 0);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let (root, s) = store();
        let mut w = s.writer().unwrap();
        w.write_all(b"abandoned").unwrap();
        assert_eq!(tmp_entries(root.path()), 1);
        drop(w);
        assert_eq!(tmp_entries(root.path()), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn read_detects_corruption() {
        let (_root, s) = store();
        let d = s.put(b"good").unwrap();
        fs::write(s.path(&d), b"evil").unwrap();
        let err = s.read(&d).unwrap_err();
        assert!(matches!(err, StoreError::BlobCorrupt { .. }), "{err}");
    }
}
