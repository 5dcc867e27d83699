//! Garbage collection: mark blobs reachable from any manifest, sweep the rest.
//!
//! Run it on a registry that is not taking pushes (or in read-only mode): a
//! blob uploaded but not yet referenced by a manifest looks unreferenced.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use berth_store::Digest;

use super::Storage;

/// Uploads untouched for this long are considered abandoned.
pub const STALE_UPLOAD: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub blobs_kept: usize,
    pub blobs_removed: usize,
    pub bytes_freed: u64,
    pub uploads_removed: usize,
}

/// Removes unreferenced blobs (and their repository links) and uploads older
/// than `stale_uploads`.
pub fn collect(storage: &Storage, stale_uploads: Duration) -> std::io::Result<GcReport> {
    let mut report = GcReport::default();
    let mut keep: HashSet<Digest> = HashSet::new();
    for (_repo, d) in storage.all_manifests() {
        mark(storage, &d, &mut keep);
    }

    let blobs = storage.root().join("blobs/sha256");
    for prefix in std::fs::read_dir(&blobs)?.flatten() {
        for e in std::fs::read_dir(prefix.path())?.flatten() {
            let Some(d) = e
                .file_name()
                .to_str()
                .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
            else {
                continue;
            };
            if keep.contains(&d) {
                report.blobs_kept += 1;
                continue;
            }
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(e.path())?;
            report.blobs_removed += 1;
            report.bytes_freed += size;
            eprintln!("gc: removed blob {d} ({size} bytes)");
        }
    }
    // Dangling links would make a HEAD say "present" for a missing blob.
    for name in all_repo_dirs(storage) {
        let dir = storage
            .root()
            .join("repositories")
            .join(&name)
            .join("_layers/sha256");
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let d = e
                    .file_name()
                    .to_str()
                    .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok());
                if d.is_none_or(|d| storage.blob_size(&d).is_none()) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    let now = SystemTime::now();
    for e in std::fs::read_dir(storage.uploads.dir())?.flatten() {
        let age = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .unwrap_or_default();
        if age >= stale_uploads {
            std::fs::remove_dir_all(e.path())?;
            report.uploads_removed += 1;
        }
    }
    Ok(report)
}

/// Marks a manifest, its config, layers, child manifests and subject-free
/// blobs reachable.
fn mark(storage: &Storage, d: &Digest, keep: &mut HashSet<Digest>) {
    if !keep.insert(d.clone()) {
        return;
    }
    let Ok(bytes) = std::fs::read(storage.blob_path(d)) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    let mut descs = Vec::new();
    if let Some(c) = v.get("config") {
        descs.push(c);
    }
    for key in ["layers", "manifests", "blobs"] {
        if let Some(arr) = v.get(key).and_then(|a| a.as_array()) {
            descs.extend(arr.iter());
        }
    }
    for desc in descs {
        if let Some(child) = desc
            .get("digest")
            .and_then(|x| x.as_str())
            .and_then(|s| Digest::parse(s).ok())
        {
            mark(storage, &child, keep);
        }
    }
}

fn all_repo_dirs(storage: &Storage) -> Vec<String> {
    // Repositories with only blob links (no manifest yet) count too.
    let mut out = Vec::new();
    fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(f) = e.file_name().into_string() else {
                continue;
            };
            if f.starts_with('_') || !e.path().is_dir() {
                continue;
            }
            let name = if prefix.is_empty() {
                f
            } else {
                format!("{prefix}/{f}")
            };
            if e.path().join("_layers").is_dir() {
                out.push(name.clone());
            }
            walk(&e.path(), &name, out);
        }
    }
    walk(&storage.root().join("repositories"), "", &mut out);
    out
}
