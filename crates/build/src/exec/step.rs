//! Steps that change files (RUN, COPY, ADD, WORKDIR): each runs on a fresh overlay
//! snapshot of the stage's layers so far, and what it changed (the upper directory)
//! becomes the stage's next layer, or an empty-layer history entry when it changed
//! nothing. A cache hit skips the snapshot altogether.

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use berth_image::config::chain_ids;
use berth_image::ImageRecord;
use serde_json::Value;

use super::cache::{self, Entry};
use super::Builder;
use crate::error::{io_at, BuildError, Result};

/// A mounted snapshot of a list of layers, unmounted and removed on drop.
pub struct Mounted<'e> {
    builder_images: &'e berth_image::ImageStore,
    pub key: String,
    pub rootfs: PathBuf,
    pub upper: PathBuf,
    pub lowers: Vec<PathBuf>,
}

/// Where finished snapshots go to be deleted off the build's critical path: on this
/// kind of host, deleting thousands of files a step just wrote costs seconds.
pub fn trash_dir(images: &berth_image::ImageStore) -> PathBuf {
    images.snapshots_dir().join(".trash")
}

/// Deletes what is in the trash, in a thread of its own (also what earlier builds
/// left when they exited before their deletion finished).
pub fn empty_trash(images: &berth_image::ImageStore) {
    let dir = trash_dir(images);
    std::thread::spawn(move || {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = fs::remove_dir_all(e.path());
        }
    });
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        let images = self.builder_images;
        let _ = images.unmount_snapshot(&self.key);
        let dir = images.snapshots_dir().join(&self.key);
        let trash = trash_dir(images);
        let dest = trash.join(&self.key);
        if fs::create_dir_all(&trash).is_ok() && fs::rename(&dir, &dest).is_ok() {
            std::thread::spawn(move || {
                let _ = fs::remove_dir_all(dest);
            });
        } else {
            let _ = images.remove_snapshot(&self.key);
        }
    }
}

fn random_hex() -> String {
    use std::io::Read;
    let mut b = [0u8; 8];
    let _ = fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    hex::encode(b)
}

/// A stand-in image record for mounting a chain of layers that is no image (yet).
fn chain_record(diff_ids: &[String]) -> ImageRecord {
    ImageRecord {
        id: "sha256:build".into(),
        manifest_digest: None,
        created: None,
        added: String::new(),
        size: 0,
        os: String::new(),
        architecture: String::new(),
        tags: Vec::new(),
        repo_digests: Vec::new(),
        layers: chain_ids(diff_ids),
    }
}

/// What a step produced.
pub struct Outcome {
    pub diff_id: Option<String>,
    pub cached: bool,
    /// When the step ran (first ran, for a cache hit).
    pub created: String,
}

impl<'a> Builder<'a> {
    /// Mounts the layers `diff_ids` as a writable snapshot of its own.
    pub fn mount(&self, diff_ids: &[String]) -> Result<Mounted<'a>> {
        let engine: &'a berth_engine::Engine = self.engine;
        let images = engine.images();
        let key = format!("build-{}", random_hex());
        let rec = chain_record(diff_ids);
        // Thrown away once its layer is taken: volatile (see mount_volatile_snapshot).
        let snap = images.mount_volatile_snapshot(&rec, &key)?;
        // A layer's dir is relative to the store's layers/ directory; the lowers
        // are read from here (stubs, unchanged parents), so they must be whole.
        let layers_dir = images.root().join("layers");
        let mut lowers = Vec::new();
        for chain in &rec.layers {
            if let Some(l) = images.layer(chain)? {
                lowers.push(layers_dir.join(&l.dir).join("diff"));
            }
        }
        Ok(Mounted {
            builder_images: images,
            key,
            upper: snap.dir.join("upper"),
            rootfs: snap.rootfs,
            lowers,
        })
    }

    /// Whether the layer chain `diff_ids` is complete in the image store.
    fn chain_present(&self, diff_ids: &[String]) -> Result<bool> {
        match chain_ids(diff_ids).last() {
            None => Ok(true),
            Some(c) => Ok(self.engine.images().layer(c)?.is_some()),
        }
    }

    /// Runs a file-changing step on top of `diff_ids`, or reuses its cached layer.
    /// `key` is the step's cache key; `action` does the work on the mounted root.
    pub fn fs_step(
        &mut self,
        diff_ids: &[String],
        key: &str,
        action: &mut dyn FnMut(&mut Builder<'_>, &Path) -> Result<()>,
    ) -> Result<Outcome> {
        if !self.opts.no_cache {
            let mut hit = None;
            if let Some(e) = self.cache.get(key) {
                let mut chain = diff_ids.to_vec();
                chain.extend(e.diff_id.clone());
                if self.chain_present(&chain)? {
                    hit = Some(e);
                }
            }
            if hit.is_none() {
                hit = self.imported_hit(diff_ids, key)?;
            }
            if let Some(entry) = hit {
                self.record_step(key, &entry, diff_ids);
                return Ok(Outcome {
                    diff_id: entry.diff_id,
                    cached: true,
                    created: match self.opts.source_date_epoch {
                        Some(_) => self.now(),
                        None => entry.created.unwrap_or_else(|| self.now()),
                    },
                });
            }
        }
        let m = self.mount(diff_ids)?;
        action(self, &m.rootfs)?;
        let diff_id = self.commit_upper(m, diff_ids)?;
        let created = self.now();
        let entry = Entry {
            diff_id: diff_id.clone(),
            created: Some(created.clone()),
        };
        self.cache.put(key, &entry)?;
        self.record_step(key, &entry, diff_ids);
        Ok(Outcome {
            diff_id,
            cached: false,
            created,
        })
    }

    /// The snapshot's changes as a new layer on `diff_ids`; `None` when nothing
    /// changed (BuildKit then records an empty layer). The snapshot is unmounted
    /// first; its upper directory then becomes the layer's directory by a rename
    /// (the layer tar is written once, for its digest and tar-split).
    fn commit_upper(&self, m: Mounted<'_>, diff_ids: &[String]) -> Result<Option<String>> {
        let images = self.engine.images();
        images.unmount_snapshot(&m.key)?;
        let tmp = images.store().tmp_dir();
        fs::create_dir_all(&tmp).map_err(io_at("creating", &tmp))?;
        let layer_file = tmp.join(format!("build-{}.tar", m.key));
        let mut exclude = berth_engine::changes::runtime_stubs(&m.upper, &m.lowers);
        exclude.extend(stub_parents(&m.upper, &m.lowers, &exclude));
        // Deepest first, so a stub's directory is empty when its turn comes.
        exclude.sort_by_key(|x| std::cmp::Reverse(x.len()));
        let result = (|| {
            let stats = {
                let f = fs::File::create(&layer_file).map_err(io_at("creating", &layer_file))?;
                let opts = berth_image::layer::DiffOptions {
                    exclude: exclude.clone(),
                    reproducible_mtime: self.opts.source_date_epoch,
                };
                berth_image::layer::diff(&m.upper, BufWriter::new(f), &opts).map_err(|e| {
                    BuildError::Step {
                        step: "committing the step's changes".into(),
                        why: e.to_string(),
                    }
                })?
            };
            if stats.entries == 0 {
                return Ok(None);
            }
            // The runtime's mount-point stubs are not in the tar: nor in the layer.
            for x in &exclude {
                let p = m.upper.join(x);
                let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir(&p));
            }
            let rec = images.add_layer_dir(diff_ids, &m.upper, &layer_file)?;
            if rec.diff_id != stats.diff_id {
                return Err(BuildError::Step {
                    step: "committing the step's changes".into(),
                    why: format!(
                        "the layer indexed as {} but its tar was {}",
                        rec.diff_id, stats.diff_id
                    ),
                });
            }
            Ok(Some(stats.diff_id))
        })();
        let _ = fs::remove_file(&layer_file);
        drop(m);
        result
    }
}

/// Directories the overlay copied up only because the runtime put its mount stubs
/// in them (`etc` for /etc/hosts): holding nothing but stubs, not recreated
/// (opaque) and with the mode and owner they have below. They are no change of the
/// step; without this every RUN layer carried an `etc/` entry with the build's
/// time. (BuildKit removes its stubs and restores the parent's times.)
fn stub_parents(upper: &Path, lowers: &[PathBuf], stubs: &[String]) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    // Where berth_engine::changes' stubs live. The runtime may have removed its
    // stubs already, leaving the directory empty, so these are checked whatever
    // `stubs` holds.
    const PARENTS: [&str; 4] = ["etc", "dev", "sys/fs", "run"];
    PARENTS
        .into_iter()
        .filter(|p| !stubs.iter().any(|s| s == p))
        .filter(|p| {
            let dir = upper.join(p);
            let Ok(md) = fs::symlink_metadata(&dir) else {
                return false;
            };
            let only_stubs = fs::read_dir(&dir).is_ok_and(|rd| {
                rd.flatten().all(|e| {
                    let rel = format!("{p}/{}", e.file_name().to_string_lossy());
                    stubs.contains(&rel)
                })
            });
            // The topmost lower layer that has it says what it was.
            let below = lowers
                .iter()
                .rev()
                .find_map(|l| fs::symlink_metadata(l.join(p)).ok());
            md.is_dir()
                && only_stubs
                && !opaque(&dir)
                && below.is_some_and(|b| {
                    b.is_dir()
                        && b.mode() == md.mode()
                        && b.uid() == md.uid()
                        && b.gid() == md.gid()
                })
        })
        .map(String::from)
        .collect()
}

/// Whether overlayfs marked `dir` opaque (the step removed and remade it).
fn opaque(dir: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|k| {
            let mut buf = [0u8; 4];
            matches!(rustix::fs::lgetxattr(dir, *k, &mut buf), Ok(n) if buf[..n] == *b"y")
        })
}

/// The key of a step from its parent's key and its description.
pub fn step_key(parent: &str, what: &Value) -> String {
    cache::key(parent, what)
}

#[cfg(test)]
mod tests {
    use super::stub_parents;
    use std::fs;

    #[test]
    fn a_dir_holding_only_stubs_is_no_change() {
        let t = tempfile::tempdir().unwrap();
        let (upper, lower) = (t.path().join("upper"), t.path().join("lower"));
        for d in [&upper, &lower] {
            fs::create_dir_all(d.join("etc")).unwrap();
            fs::create_dir_all(d.join("run")).unwrap();
        }
        fs::write(upper.join("etc/hosts"), "").unwrap();
        // A directory with a real change is one.
        fs::write(upper.join("run/real"), "x").unwrap();
        let stubs = vec!["etc/hosts".to_string()];
        let got = stub_parents(&upper, std::slice::from_ref(&lower), &stubs);
        assert_eq!(got, ["etc"]);
        // Stubs the runtime already removed leave it empty: still no change.
        fs::remove_file(upper.join("etc/hosts")).unwrap();
        assert_eq!(
            stub_parents(&upper, std::slice::from_ref(&lower), &[]),
            ["etc"]
        );
        fs::write(upper.join("etc/hosts"), "").unwrap();
        // A real change beside the stub keeps the directory.
        fs::write(upper.join("etc/passwd"), "root").unwrap();
        assert!(stub_parents(&upper, std::slice::from_ref(&lower), &stubs).is_empty());
        // So does a mode change.
        fs::remove_file(upper.join("etc/passwd")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(upper.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
        assert!(stub_parents(&upper, &[lower], &stubs).is_empty());
    }
}
