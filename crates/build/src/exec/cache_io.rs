//! `--cache-from` and `--cache-to`: build cache records moved between stores.
//!
//! Every file step the build takes (run or found in the cache) is recorded with its
//! key, layer and time. After a successful build the records a [`CacheMode`] selects
//! are exported with their layer blobs (see [`super::cache_format`]). On a local
//! cache miss the imported records are consulted: the record index of each source is
//! read once per build, at the first miss, and a layer blob is fetched only when a
//! step hits it; it is verified, added to the image store and to the local cache, and
//! the step counts as cached.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use berth_dockerfile::{expand_word, StageRef};
use berth_image::config::chain_ids;
use berth_image::store::LayerSource;
use berth_image::ImageStore;

use super::cache::Entry;
use super::cache_backend::{BlobData, CacheBackend};
use super::cache_blob::{layer_blob, LayerBlobFile};
use super::cache_format::{self, Blob, CacheConfig, Record, CONFIG_MEDIA_TYPE};
use super::cache_spec::CacheMode;
use super::progress::{Progress, Vertex};
use super::Builder;
use crate::error::{BuildError, Result};

/// One `--cache-to`.
#[derive(Debug, Clone)]
pub struct CacheExport {
    pub backend: Arc<dyn CacheBackend>,
    pub mode: CacheMode,
    /// A failed export is a warning.
    pub ignore_error: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CacheOptions {
    /// `--cache-from`s, earlier ones first when two know the same step.
    pub from: Vec<Arc<dyn CacheBackend>>,
    pub to: Vec<CacheExport>,
    /// Keep the compressed blob of an imported or exported layer in the store
    /// (berth.toml's `images.keep_layer_blobs`), so later exports and pushes send
    /// it without compressing again.
    pub keep_blobs: bool,
}

/// A step as the build took it.
struct StepRecord {
    stage: usize,
    key: String,
    entry: Entry,
    /// The layer's chain id in the store (none for an empty layer).
    chain: Option<String>,
}

/// An imported cache: its records by key and its layer blobs by digest.
struct Source {
    backend: Arc<dyn CacheBackend>,
    records: HashMap<String, Record>,
    blobs: HashMap<String, Blob>,
}

/// The build's side of cache import and export.
#[derive(Default)]
pub(crate) struct Session {
    /// `None` until the first local miss reads the sources.
    sources: Option<Vec<Source>>,
    steps: Vec<StepRecord>,
}

fn cache_err(place: &dyn CacheBackend, why: impl Into<String>) -> BuildError {
    BuildError::Cache {
        place: place.describe(),
        why: why.into(),
    }
}

fn read_all(mut r: Box<dyn Read + Send>, place: &dyn CacheBackend, what: &str) -> Result<Vec<u8>> {
    let mut b = Vec::new();
    r.read_to_end(&mut b)
        .map_err(|e| cache_err(place, format!("reading {what}: {e}")))?;
    Ok(b)
}

/// Reads a source's manifest and records; `None` when it holds no cache yet.
fn load(backend: &Arc<dyn CacheBackend>, tmp: &std::path::Path) -> Result<Option<Source>> {
    let b = &**backend;
    let Some(manifest) = b.read_manifest()? else {
        return Ok(None);
    };
    let (config, layers) = cache_format::parse_manifest(&manifest).map_err(|w| cache_err(b, w))?;
    let bytes = read_all(b.open_blob(&config, tmp)?, b, "the cache config")?;
    let cfg = cache_format::parse_config(&bytes).map_err(|w| cache_err(b, w))?;
    Ok(Some(Source {
        backend: backend.clone(),
        records: cfg
            .records
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect(),
        blobs: layers.into_iter().map(|l| (l.digest.clone(), l)).collect(),
    }))
}

impl Builder<'_> {
    /// Notes a step for the export; `parents` are the diff ids it was taken on.
    pub(crate) fn record_step(&self, key: &str, entry: &Entry, parents: &[String]) {
        if self.opts.cache.to.is_empty() {
            return;
        }
        let chain = entry.diff_id.as_ref().and_then(|d| {
            let mut all = parents.to_vec();
            all.push(d.clone());
            chain_ids(&all).pop()
        });
        super::lock(&self.shared.cache_io).steps.push(StepRecord {
            stage: self.current,
            key: key.to_string(),
            entry: entry.clone(),
            chain,
        });
    }

    /// Reads the `--cache-from` sources once per build (the first thread to miss
    /// reads them; the others wait for it).
    fn load_sources(&self, session: &mut Session) {
        if session.sources.is_some() {
            return;
        }
        let tmp = self.engine.images().store().tmp_dir();
        let _ = std::fs::create_dir_all(&tmp);
        let mut out = Vec::new();
        for backend in self.opts.cache.from.clone() {
            let v = self.progress.begin(&format!(
                "importing cache manifest from {}",
                backend.describe()
            ));
            // A cache that is not there (yet) or cannot be read leaves the build to
            // run its steps, as BuildKit does: the first CI run has no cache.
            match load(&backend, &tmp) {
                Ok(Some(s)) => {
                    self.progress
                        .note(&v, &format!("{} records", s.records.len()));
                    out.push(s);
                }
                Ok(None) => self.progress.warn(&format!(
                    "no build cache at {}: building without it",
                    backend.describe()
                )),
                Err(e) => self
                    .progress
                    .warn(&format!("{e}: building without this cache")),
            }
            self.progress.done(v);
        }
        session.sources = Some(out);
    }

    /// The entry an imported cache has for `key`, with its layer fetched into the
    /// store on top of `parents` (which are there) and the step added to the local
    /// cache. A blob that fails verification fails the build: nothing of it is
    /// stored.
    pub(crate) fn imported_hit(&self, parents: &[String], key: &str) -> Result<Option<Entry>> {
        if self.opts.cache.from.is_empty() {
            return Ok(None);
        }
        let mut session = super::lock(&self.shared.cache_io);
        self.load_sources(&mut session);
        let found = session.sources.iter().flatten().find_map(|s| {
            let r = s.records.get(key)?;
            let blob = match (&r.diff_id, &r.blob) {
                (None, _) => None,
                (Some(_), Some(d)) => Some(s.blobs.get(d)?.clone()),
                // A record of a layer without its blob cannot be used.
                (Some(_), None) => return None,
            };
            Some((s.backend.clone(), r.clone(), blob))
        });
        drop(session);
        let Some((backend, rec, blob)) = found else {
            return Ok(None);
        };
        if let (Some(diff_id), Some(blob)) = (&rec.diff_id, &blob) {
            let mut all = parents.to_vec();
            all.push(diff_id.clone());
            let images = self.engine.images();
            let present = match chain_ids(&all).last() {
                Some(c) => images.layer(c)?.is_some(),
                None => true,
            };
            if !present {
                self.fetch_layer(&*backend, parents, diff_id, blob)?;
            }
        }
        let entry = Entry {
            diff_id: rec.diff_id,
            created: rec.created,
        };
        self.cache.put(key, &entry)?;
        Ok(Some(entry))
    }

    fn fetch_layer(
        &self,
        backend: &dyn CacheBackend,
        parents: &[String],
        diff_id: &str,
        blob: &Blob,
    ) -> Result<()> {
        let images = self.engine.images();
        let tmp = images.store().tmp_dir();
        std::fs::create_dir_all(&tmp)
            .map_err(|e| cache_err(backend, format!("creating {}: {e}", tmp.display())))?;
        let reader = Mutex::new(Some(backend.open_blob(blob, &tmp)?));
        // Only the new layer is missing: add_layers opens no other source.
        let mut sources: Vec<LayerSource<'_>> = parents
            .iter()
            .map(|d| LayerSource {
                diff_id: d.clone(),
                blob_digest: None,
                blob_verified: false,
                keep_blob_as: None,
                open: Box::new(|| Err(std::io::Error::other("a parent layer is not in the store"))),
            })
            .collect();
        sources.push(LayerSource {
            diff_id: diff_id.to_string(),
            blob_digest: Some(blob.digest.clone()),
            // open_blob checked digest and size before handing it out.
            blob_verified: true,
            keep_blob_as: self.opts.cache.keep_blobs.then(|| blob.media_type.clone()),
            open: Box::new(move || {
                reader
                    .lock()
                    .expect("lock")
                    .take()
                    .ok_or_else(|| std::io::Error::other("the cache blob was already read"))
            }),
        });
        images.add_layers(&sources).map_err(|e| {
            cache_err(
                backend,
                format!(
                    "adding layer {diff_id} (blob {}) to the store: {e}",
                    blob.digest
                ),
            )
        })?;
        Ok(())
    }

    /// The stages whose steps made the final image's layers: the target and the
    /// stages it is built FROM, transitively.
    fn image_stages(&self, target: usize) -> Result<HashSet<usize>> {
        let globals = self.global_args()?;
        let mut set = HashSet::new();
        let mut i = target;
        while set.insert(i) {
            let stage = &self.file.stages[i];
            let base = expand_word(&stage.base, &globals, self.escape()).map_err(|e| {
                BuildError::Step {
                    step: stage.original.clone(),
                    why: e.to_string(),
                }
            })?;
            match self.file.resolve_base(&base, i) {
                StageRef::Stage(j) => i = j,
                StageRef::Image(_) => break,
            }
        }
        Ok(set)
    }

    /// Writes every `--cache-to` after a successful build of stage `target`.
    pub(crate) fn export_cache(&self, target: usize) -> Result<()> {
        if self.opts.cache.to.is_empty() {
            return Ok(());
        }
        let chain = self.image_stages(target)?;
        let engine = self.engine;
        let keep = self.opts.cache.keep_blobs;
        for ex in self.opts.cache.to.clone() {
            let v = self
                .progress
                .begin(&format!("exporting cache to {}", ex.backend.describe()));
            let session = super::lock(&self.shared.cache_io);
            let steps: BTreeMap<&str, &StepRecord> = session
                .steps
                .iter()
                .filter(|s| ex.mode == CacheMode::Max || chain.contains(&s.stage))
                .map(|s| (s.key.as_str(), s))
                .collect();
            let res = export(
                engine.images(),
                keep,
                &steps,
                &*ex.backend,
                (self.progress, &v),
            );
            match res {
                Ok(()) => self.progress.done(v),
                Err(e) if ex.ignore_error => {
                    self.progress
                        .warn(&format!("{e} (ignore-error=true: the build goes on)"));
                    self.progress.done(v);
                }
                Err(e) => {
                    self.progress.error(&v, &e.to_string());
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

/// One export: the layer blobs, then the config, then the manifest.
fn export(
    images: &ImageStore,
    keep: bool,
    steps: &BTreeMap<&str, &StepRecord>,
    backend: &dyn CacheBackend,
    (progress, v): (&Progress, &Vertex),
) -> Result<()> {
    let mut files: HashMap<String, LayerBlobFile> = HashMap::new();
    let mut layers: Vec<Blob> = Vec::new();
    let mut records = Vec::new();
    for (key, s) in steps {
        let blob = match &s.chain {
            None => None,
            Some(c) => {
                if !files.contains_key(c) {
                    let f = layer_blob(images, c, keep)?;
                    if !layers.iter().any(|l| l.digest == f.blob.digest) {
                        backend.write_blob(&f.blob, BlobData::File(&f.path))?;
                        progress.note(v, &format!("writing layer {} done", f.blob.digest));
                        layers.push(f.blob.clone());
                    }
                    files.insert(c.clone(), f);
                }
                Some(files[c].blob.digest.clone())
            }
        };
        records.push(Record {
            key: key.to_string(),
            diff_id: s.entry.diff_id.clone(),
            created: s.entry.created.clone(),
            blob,
        });
    }
    let n = records.len();
    let config = serde_json::to_vec(&CacheConfig {
        version: 1,
        records,
    })
    .expect("JSON value");
    let config_blob = Blob {
        media_type: CONFIG_MEDIA_TYPE.into(),
        digest: cache_format::sha256(&config),
        size: config.len() as u64,
    };
    backend.write_blob(&config_blob, BlobData::Bytes(&config))?;
    progress.note(
        v,
        &format!("writing config {} ({n} records) done", config_blob.digest),
    );
    let manifest = cache_format::manifest(&config_blob, &layers);
    backend.write_manifest(&manifest)?;
    progress.note(
        v,
        &format!(
            "writing cache manifest {} done",
            cache_format::sha256(&manifest)
        ),
    );
    Ok(())
}
