//! Per-repository metadata: blob links, manifest revisions, tags, referrers.
//!
//! These are tiny files, touched with blocking std::fs calls directly from
//! handlers: each is a single metadata syscall or a read of a few bytes, cheaper
//! than a hop to the blocking pool.

use std::path::PathBuf;

use berth_store::Digest;

use super::{fsutil, Storage};

/// A manifest as stored in a repository.
#[derive(Debug, Clone)]
pub struct ManifestLink {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

impl Storage {
    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn layer_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_layers")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn revision_link(&self, name: &str, d: &Digest) -> PathBuf {
        self.repo(name)
            .join("_manifests/revisions")
            .join(d.algorithm())
            .join(d.hex())
    }

    fn tag_file(&self, name: &str, tag: &str) -> PathBuf {
        self.repo(name).join("_manifests/tags").join(tag)
    }

    fn referrers_dir(&self, name: &str, subject: &Digest) -> PathBuf {
        self.repo(name)
            .join("_referrers")
            .join(subject.algorithm())
            .join(subject.hex())
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        self.repo(name).is_dir()
    }

    /// Makes a stored blob visible in a repository.
    pub fn link_blob(&self, name: &str, d: &Digest) -> std::io::Result<()> {
        let path = self.layer_link(name, d);
        if path.exists() {
            return Ok(());
        }
        fsutil::write_atomic(&self.tmp(), &path, b"", false)
    }

    /// The blob's size when it is both stored and linked into `name`.
    pub fn repo_blob_size(&self, name: &str, d: &Digest) -> Option<u64> {
        if !self.layer_link(name, d).exists() {
            return None;
        }
        self.blob_size(d)
    }

    pub fn unlink_blob(&self, name: &str, d: &Digest) -> std::io::Result<bool> {
        remove_if_exists(self.layer_link(name, d))
    }

    /// Records a manifest (bytes already in the blob store) and optionally a tag.
    pub fn put_manifest(
        &self,
        name: &str,
        link: &ManifestLink,
        tag: Option<&str>,
        subject: Option<&Digest>,
    ) -> std::io::Result<()> {
        let tmp = self.tmp();
        fsutil::write_atomic(
            &tmp,
            &self.revision_link(name, &link.digest),
            link.media_type.as_bytes(),
            false,
        )?;
        if let Some(subject) = subject {
            let path = self.referrers_dir(name, subject).join(link.digest.hex());
            fsutil::write_atomic(&tmp, &path, b"", false)?;
        }
        if let Some(tag) = tag {
            fsutil::write_atomic(
                &tmp,
                &self.tag_file(name, tag),
                link.digest.as_str().as_bytes(),
                false,
            )?;
        }
        Ok(())
    }

    pub fn manifest(&self, name: &str, d: &Digest) -> Option<ManifestLink> {
        let media_type = std::fs::read_to_string(self.revision_link(name, d)).ok()?;
        let size = self.blob_size(d)?;
        Some(ManifestLink {
            digest: d.clone(),
            media_type,
            size,
        })
    }

    pub fn resolve_tag(&self, name: &str, tag: &str) -> Option<Digest> {
        let s = std::fs::read_to_string(self.tag_file(name, tag)).ok()?;
        Digest::parse(s.trim()).ok()
    }

    /// Deletes a manifest revision and every tag pointing at it.
    pub fn delete_manifest(&self, name: &str, d: &Digest) -> std::io::Result<bool> {
        let existed = remove_if_exists(self.revision_link(name, d))?;
        if existed {
            for tag in self.tags(name).unwrap_or_default() {
                if self.resolve_tag(name, &tag).as_ref() == Some(d) {
                    remove_if_exists(self.tag_file(name, &tag))?;
                }
            }
            // Drop this manifest from any referrers index it is listed in.
            let refs = self.repo(name).join("_referrers").join("sha256");
            if let Ok(subjects) = std::fs::read_dir(refs) {
                for s in subjects.flatten() {
                    remove_if_exists(s.path().join(d.hex()))?;
                }
            }
        }
        Ok(existed)
    }

    pub fn delete_tag(&self, name: &str, tag: &str) -> std::io::Result<bool> {
        remove_if_exists(self.tag_file(name, tag))
    }

    /// Sorted tags of a repository; `None` when the repository does not exist.
    pub fn tags(&self, name: &str) -> Option<Vec<String>> {
        if !self.repo_exists(name) {
            return None;
        }
        let mut tags: Vec<String> = match std::fs::read_dir(self.repo(name).join("_manifests/tags"))
        {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        tags.sort();
        Some(tags)
    }

    /// Digests of the manifests in `name` whose `subject` is `subject`.
    pub fn referrers(&self, name: &str, subject: &Digest) -> Vec<Digest> {
        let mut out: Vec<Digest> = match std::fs::read_dir(self.referrers_dir(name, subject)) {
            Ok(rd) => rd
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|h| Digest::parse(&format!("sha256:{h}")).ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        out.sort();
        out
    }

    /// Sorted names of all repositories holding at least one manifest.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out);
        out.sort();
        out
    }

    /// Every (repository, manifest digest) pair: the roots of garbage collection.
    pub fn all_manifests(&self) -> Vec<(String, Digest)> {
        let mut out = Vec::new();
        for name in self.catalog() {
            let dir = self.repo(&name).join("_manifests/revisions/sha256");
            if let Ok(rd) = std::fs::read_dir(dir) {
                for e in rd.flatten() {
                    if let Some(d) = e
                        .file_name()
                        .to_str()
                        .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
                    {
                        out.push((name.clone(), d));
                    }
                }
            }
        }
        out
    }
}

/// Repositories are the directories that contain `_manifests` or `_layers`;
/// their names are the relative paths (multi-component names nest).
fn walk_repos(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(fname) = e.file_name().into_string() else {
            continue;
        };
        if fname.starts_with('_') || !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let name = if prefix.is_empty() {
            fname
        } else {
            format!("{prefix}/{fname}")
        };
        if e.path().join("_manifests").is_dir() {
            out.push(name.clone());
        }
        walk_repos(&e.path(), &name, out);
    }
}

fn remove_if_exists(p: PathBuf) -> std::io::Result<bool> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
