//! The image store: layers unpacked once into their own directories (shared by every
//! image that has them), images and tags in the metadata DB, configs and manifests as
//! blobs. Every change that must be atomic happens in one `BEGIN IMMEDIATE` transaction,
//! so concurrent berth processes serialise instead of corrupting each other.

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_store::{Digest, Store};
use rusqlite::{params, OptionalExtension};

use crate::config::{chain_ids, ImageConfig};
use crate::error::{ImageError, IoContext, Result};
use crate::layer;
use crate::reference::ImageRef;

pub struct ImageStore {
    store: Store,
}

#[derive(Debug, Clone)]
pub struct LayerRecord {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    pub dir: String,
    pub size: u64,
    pub tar_size: u64,
    /// The compressed blob kept for this layer, if any (see [`ImageStore::layer_blob_path`]).
    pub blob: Option<LayerBlob>,
}

/// A compressed form of a layer whose exact bytes the store keeps, so a push can send
/// them as they are: same digest as the registry the layer came from, no recompression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob.
    pub id: String,
    pub manifest_digest: Option<String>,
    pub created: Option<String>,
    pub added: String,
    /// Bytes of unpacked content over all layers.
    pub size: u64,
    pub os: String,
    pub architecture: String,
    /// Canonical `registry/repo:tag` names.
    pub tags: Vec<String>,
    /// `registry/repo@sha256:...`.
    pub repo_digests: Vec<String>,
    /// Chain ids, bottom layer first.
    pub layers: Vec<String>,
}

impl ImageRecord {
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}

/// A layer to add: where its (possibly compressed) tar comes from, and the diff id
/// the image config promises for it.
pub struct LayerSource<'a> {
    pub diff_id: String,
    /// The digest of the blob as stored (compressed), when the source names one.
    pub blob_digest: Option<String>,
    /// The reader itself fails (instead of reaching EOF) when its bytes do not match
    /// `blob_digest`, as a registry download that hashes while streaming does; the
    /// store then does not hash the blob a second time.
    pub blob_verified: bool,
    /// Keep the compressed blob under this media type (when it is compressed, i.e.
    /// `blob_digest` differs from the diff id), for later pushes.
    pub keep_blob_as: Option<String>,
    pub open: Box<dyn Fn() -> std::io::Result<Box<dyn Read + Send + 'a>> + Send + Sync + 'a>,
}

const LAYERS: &str = "layers";
/// The kept compressed blob, inside the layer's directory so removing the layer
/// removes it too.
const LAYER_BLOB: &str = "blob";

impl ImageStore {
    pub fn open(root: &Path) -> Result<ImageStore> {
        Ok(ImageStore {
            store: Store::open(root)?,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn root(&self) -> &Path {
        self.store.root()
    }

    pub fn layers_dir(&self) -> PathBuf {
        self.root().join(LAYERS)
    }

    /// The unpacked tree of a layer.
    pub fn layer_diff_path(&self, dir: &str) -> PathBuf {
        self.layers_dir().join(dir).join("diff")
    }

    pub fn layer_tar_split(&self, dir: &str) -> PathBuf {
        self.layers_dir().join(dir).join("tar-split.zst")
    }

    pub fn layer_blob_path(&self, dir: &str) -> PathBuf {
        self.layers_dir().join(dir).join(LAYER_BLOB)
    }

    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerRecord>> {
        Ok(self
            .store
            .db()
            .conn()
            .query_row(
                "SELECT chain_id, diff_id, parent, dir, size, tar_size, blob_digest, blob_size, blob_media_type
                 FROM layers WHERE chain_id = ?1",
                [chain_id],
                |r| {
                    let blob = match (
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Option<i64>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                    ) {
                        (Some(digest), Some(size), Some(media_type)) => Some(LayerBlob {
                            digest,
                            size: size as u64,
                            media_type,
                        }),
                        _ => None,
                    };
                    Ok(LayerRecord {
                        chain_id: r.get(0)?,
                        diff_id: r.get(1)?,
                        parent: r.get(2)?,
                        dir: r.get(3)?,
                        size: r.get::<_, i64>(4)? as u64,
                        tar_size: r.get::<_, Option<i64>>(5)?.unwrap_or(0) as u64,
                        blob,
                    })
                },
            )
            .optional()?)
    }

    /// Keeps `file` (a compressed form of the layer, e.g. what a push just uploaded) as
    /// the layer's blob, replacing any earlier one. `file` must be on the store's
    /// filesystem; it is moved, or removed when the layer is gone meanwhile.
    pub fn keep_layer_blob(&self, chain_id: &str, file: &Path, blob: &LayerBlob) -> Result<()> {
        let kept = self.store.db().write(|tx| {
            let map = |e: rusqlite::Error| berth_store::StoreError::from(e);
            let dir: Option<String> = tx
                .query_row("SELECT dir FROM layers WHERE chain_id = ?1", [chain_id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(map)?;
            let Some(dir) = dir else {
                return Ok(false);
            };
            let dest = self.layer_blob_path(&dir);
            fs::rename(file, &dest).map_err(|source| berth_store::StoreError::Io {
                op: "keeping a layer's compressed blob",
                path: dest.clone(),
                source,
            })?;
            tx.execute(
                "UPDATE layers SET blob_digest = ?2, blob_size = ?3, blob_media_type = ?4 WHERE chain_id = ?1",
                params![chain_id, blob.digest, blob.size as i64, blob.media_type],
            )
            .map_err(map)?;
            Ok(true)
        })?;
        if !kept {
            let _ = fs::remove_file(file);
        }
        Ok(())
    }

    /// Adds the layers of one image, unpacking the missing ones in parallel (each into
    /// its own directory: overlayfs stacks them, so no layer waits for another), hashing
    /// while extracting and checking each against the config's diff id.
    pub fn add_layers(&self, sources: &[LayerSource<'_>]) -> Result<Vec<LayerRecord>> {
        let diff_ids: Vec<String> = sources.iter().map(|s| s.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let mut missing = Vec::new();
        for (i, chain) in chains.iter().enumerate() {
            if self.layer(chain)?.is_none() && !missing.iter().any(|&j: &usize| chains[j] == *chain)
            {
                missing.push(i);
            }
        }
        // The DB connection is not shared across threads; the workers only touch files.
        let layers_dir = self.layers_dir();
        let staged: Vec<Result<Staged>> = std::thread::scope(|scope| {
            let handles: Vec<_> = missing
                .iter()
                .map(|&i| {
                    let src = &sources[i];
                    let dir = layers_dir.clone();
                    scope.spawn(move || stage_layer(&dir, i, src))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(ImageError::Invalid {
                            what: "layer".into(),
                            why: "extraction thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut staged_ok = Vec::new();
        let mut first_err = None;
        for s in staged {
            match s {
                Ok(s) => staged_ok.push(s),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_err {
            for s in staged_ok {
                let _ = fs::remove_dir_all(&s.tmp);
            }
            return Err(e);
        }
        // Register bottom-up so each layer's parent row exists first.
        staged_ok.sort_by_key(|s| s.index);
        let mut staged_iter = staged_ok.into_iter().peekable();
        let mut out = Vec::with_capacity(chains.len());
        for (i, chain) in chains.iter().enumerate() {
            let parent = if i == 0 {
                None
            } else {
                Some(chains[i - 1].clone())
            };
            if staged_iter.peek().is_some_and(|s| s.index == i) {
                let s = staged_iter.next().expect("peeked");
                out.push(self.register_layer(chain, &diff_ids[i], parent, s)?);
            } else {
                out.push(self.layer(chain)?.ok_or_else(|| ImageError::Invalid {
                    what: format!("layer {chain}"),
                    why: "it disappeared while the image was being added (removed concurrently?); try again".into(),
                })?);
            }
        }
        Ok(out)
    }

    /// A layer whose directory is already in the layer layout, on top of the layers
    /// `parents` (diff ids, bottom first, all in the store): a build step's overlay
    /// upper directory, unmounted. `dir` is moved into the store instead of being
    /// unpacked again from `tar` (its `layer::diff`), which is read once for the
    /// diff id and the tar-split.
    pub fn add_layer_dir(&self, parents: &[String], dir: &Path, tar: &Path) -> Result<LayerRecord> {
        let input = fs::File::open(tar).ctx(|| format!("opening {}", tar.display()))?;
        let tmp = self
            .layers_dir()
            .join(format!(".tmp-{}-{}-0", std::process::id(), unique()));
        fs::create_dir_all(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let result = (|| {
            let idx = layer::index(dir, input, &tmp.join("tar-split.zst"))?;
            let mut all = parents.to_vec();
            all.push(idx.diff_id.clone());
            let chains = chain_ids(&all);
            let chain = chains.last().cloned().unwrap_or_default();
            if let Some(l) = self.layer(&chain)? {
                let _ = fs::remove_dir_all(&tmp);
                return Ok(l);
            }
            let parent = (chains.len() > 1).then(|| chains[chains.len() - 2].clone());
            fs::rename(dir, tmp.join("diff"))
                .ctx(|| format!("moving {} into the layer store", dir.display()))?;
            let staged = Staged {
                index: 0,
                tmp: tmp.clone(),
                diff_id: idx.diff_id.clone(),
                size: idx.size,
                tar_size: idx.tar_size,
                blob: None,
            };
            self.register_layer(&chain, &idx.diff_id, parent, staged)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// A single layer from a stream whose digest is not known in advance (`import`).
    pub fn import_layer(&self, input: impl Read) -> Result<LayerRecord> {
        let staged = stage_reader(
            &self.layers_dir(),
            0,
            input,
            None,
            None,
            BlobHandling::default(),
        )?;
        let chain = staged.diff_id.clone();
        if self.layer(&chain)?.is_some() {
            let _ = fs::remove_dir_all(&staged.tmp);
            return Ok(self.layer(&chain)?.expect("checked"));
        }
        let diff_id = staged.diff_id.clone();
        self.register_layer(&chain, &diff_id, None, staged)
    }

    fn register_layer(
        &self,
        chain: &str,
        diff_id: &str,
        parent: Option<String>,
        s: Staged,
    ) -> Result<LayerRecord> {
        let dir = layer_dir_name(chain);
        let final_path = self.layers_dir().join(&dir);
        let record = self.store.db().write(|tx| {
            let existing: Option<String> = tx
                .query_row("SELECT dir FROM layers WHERE chain_id = ?1", [chain], |r| r.get(0))
                .optional()
                .map_err(berth_store::StoreError::from)?;
            if existing.is_some() {
                return Ok(false);
            }
            if final_path.exists() {
                // Left by a crash between rename and commit: no row owns it.
                let _ = fs::remove_dir_all(&final_path);
            }
            fs::rename(&s.tmp, &final_path).map_err(|source| berth_store::StoreError::Io {
                op: "moving a layer into place",
                path: final_path.clone(),
                source,
            })?;
            tx.execute(
                "INSERT INTO layers (chain_id, diff_id, parent, dir, size, created, tar_size, blob_digest, blob_size, blob_media_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    chain,
                    diff_id,
                    parent,
                    dir,
                    s.size as i64,
                    now(),
                    s.tar_size as i64,
                    s.blob.as_ref().map(|b| b.digest.clone()),
                    s.blob.as_ref().map(|b| b.size as i64),
                    s.blob.as_ref().map(|b| b.media_type.clone())
                ],
            )
            .map_err(berth_store::StoreError::from)?;
            Ok(true)
        })?;
        if !record {
            let _ = fs::remove_dir_all(&s.tmp);
        }
        self.layer(chain)?.ok_or_else(|| ImageError::Invalid {
            what: format!("layer {chain}"),
            why: "missing right after it was added".into(),
        })
    }

    /// Records an image whose layers are in the store. Tags move to this image.
    pub fn add_image(
        &self,
        config_bytes: &[u8],
        manifest: Option<&[u8]>,
        tags: &[ImageRef],
        repo_digest: Option<(&str, &str)>,
    ) -> Result<ImageRecord> {
        let config = ImageConfig::parse(config_bytes)?;
        let chains = chain_ids(&config.diff_ids()?);
        let mut size = 0u64;
        for c in &chains {
            let l = self.layer(c)?.ok_or_else(|| ImageError::Invalid {
                what: "image".into(),
                why: format!("layer {c} is not in the store"),
            })?;
            size += l.size;
        }
        let config_digest = self.store.blobs().put(config_bytes)?;
        let manifest_digest = manifest.map(|m| self.store.blobs().put(m)).transpose()?;
        let id = config_digest.to_string();
        let tag_names: Vec<String> = tags.iter().filter_map(|t| t.tagged()).collect();
        self.store.db().write(|tx| {
            let map = |e: rusqlite::Error| berth_store::StoreError::from(e);
            tx.execute(
                "INSERT INTO images (id, config_digest, manifest_digest, created, added, size, os, architecture)
                 VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET manifest_digest = COALESCE(excluded.manifest_digest, images.manifest_digest)",
                params![
                    id,
                    manifest_digest.as_ref().map(|d| d.to_string()),
                    config.created(),
                    now(),
                    size as i64,
                    config.os(),
                    config.architecture()
                ],
            )
            .map_err(map)?;
            tx.execute("DELETE FROM image_layers WHERE image_id = ?1", [&id]).map_err(map)?;
            for (i, c) in chains.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                    params![id, i as i64, c],
                )
                .map_err(map)?;
            }
            for t in &tag_names {
                tx.execute(
                    "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                    params![t, id],
                )
                .map_err(map)?;
            }
            if let Some((repo, digest)) = repo_digest {
                tx.execute(
                    "INSERT OR REPLACE INTO repo_digests (repo, digest, image_id) VALUES (?1, ?2, ?3)",
                    params![repo, digest, id],
                )
                .map_err(map)?;
            }
            Ok(())
        })?;
        self.get(&id)
    }

    pub fn config(&self, image: &ImageRecord) -> Result<ImageConfig> {
        let d = Digest::parse(&image.id)?;
        ImageConfig::parse(&self.store.blobs().read(&d)?)
    }

    pub fn config_bytes(&self, image: &ImageRecord) -> Result<Vec<u8>> {
        Ok(self.store.blobs().read(&Digest::parse(&image.id)?)?)
    }

    fn get(&self, id: &str) -> Result<ImageRecord> {
        self.list()?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let conn = self.store.db().conn();
        let mut stmt = conn.prepare(
            "SELECT id, manifest_digest, created, added, size, os, architecture FROM images ORDER BY added DESC, id",
        )?;
        let mut images: Vec<ImageRecord> = stmt
            .query_map([], |r| {
                Ok(ImageRecord {
                    id: r.get(0)?,
                    manifest_digest: r.get(1)?,
                    created: r.get(2)?,
                    added: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                    os: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    architecture: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                    tags: Vec::new(),
                    repo_digests: Vec::new(),
                    layers: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut tags = conn.prepare("SELECT name, image_id FROM tags ORDER BY name")?;
        let tag_rows: Vec<(String, String)> = tags
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut digests =
            conn.prepare("SELECT repo, digest, image_id FROM repo_digests ORDER BY repo")?;
        let digest_rows: Vec<(String, String, String)> = digests
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut layers = conn
            .prepare("SELECT image_id, chain_id FROM image_layers ORDER BY image_id, position")?;
        let layer_rows: Vec<(String, String)> = layers
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for img in &mut images {
            img.tags = tag_rows
                .iter()
                .filter(|(_, i)| *i == img.id)
                .map(|(n, _)| n.clone())
                .collect();
            img.repo_digests = digest_rows
                .iter()
                .filter(|(_, _, i)| *i == img.id)
                .map(|(r, d, _)| format!("{r}@{d}"))
                .collect();
            img.layers = layer_rows
                .iter()
                .filter(|(i, _)| *i == img.id)
                .map(|(_, c)| c.clone())
                .collect();
        }
        Ok(images)
    }

    /// Finds an image the way Docker does: a tag, `repo@digest`, a full id, or a unique
    /// prefix of an id.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let images = self.list()?;
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let looks_like_id = !hex.is_empty()
            && hex.len() <= 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if let Ok(r) = ImageRef::parse(name) {
            if let Some(d) = &r.digest {
                if let Some(img) = images
                    .iter()
                    .find(|i| i.repo_digests.contains(&format!("{}@{d}", r.name())))
                {
                    return Ok(img.clone());
                }
            } else if let Some(t) = r.tagged() {
                if let Some(img) = images.iter().find(|i| i.tags.contains(&t)) {
                    return Ok(img.clone());
                }
            }
        }
        if looks_like_id {
            let matches: Vec<_> = images
                .iter()
                .filter(|i| i.id["sha256:".len()..].starts_with(hex))
                .collect();
            match matches.len() {
                1 => return Ok(matches[0].clone()),
                0 => {}
                n => {
                    return Err(ImageError::Ambiguous {
                        name: name.to_string(),
                        count: n,
                    })
                }
            }
        }
        Err(ImageError::NotFound(name.to_string()))
    }

    pub fn tag(&self, image: &ImageRecord, target: &ImageRef) -> Result<()> {
        let name = target
            .tagged()
            .ok_or_else(|| ImageError::InvalidReference {
                reference: target.canonical(),
                why: "a tag target cannot be a digest".into(),
            })?;
        self.store.db().write(|tx| {
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                params![name, image.id],
            )
            .map_err(berth_store::StoreError::from)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Docker's `rmi`: a tag name untags (and deletes the image once no tag is left);
    /// an id deletes the image, refusing when several repositories still name it unless
    /// forced. `in_use` says whether a container uses an image.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Removal>> {
        let img = self.resolve(name)?;
        let mut out = Vec::new();
        let by_tag = ImageRef::parse(name)
            .ok()
            .and_then(|r| r.tagged())
            .filter(|t| img.tags.contains(t));
        if let Some(tag) = &by_tag {
            if img.tags.len() > 1 {
                self.untag(tag)?;
                out.push(Removal::Untagged(tag.clone()));
                return Ok(out);
            }
        } else if img.tags.len() > 1 && !force {
            return Err(ImageError::Conflict {
                what: img.short_id().to_string(),
                why: "must be forced - image is referenced in multiple repositories".into(),
            });
        }
        if in_use(&img.id) && !force {
            return Err(ImageError::Conflict {
                what: img.short_id().to_string(),
                why: "image is being used by a container; remove the container first or use -f"
                    .into(),
            });
        }
        for t in &img.tags {
            out.push(Removal::Untagged(t.clone()));
        }
        for d in &img.repo_digests {
            out.push(Removal::Untagged(d.clone()));
        }
        self.delete_image(&img)?;
        out.push(Removal::Deleted(img.id.clone()));
        Ok(out)
    }

    pub fn untag(&self, tag: &str) -> Result<()> {
        self.store.db().write(|tx| {
            tx.execute("DELETE FROM tags WHERE name = ?1", [tag])
                .map_err(berth_store::StoreError::from)?;
            Ok(())
        })?;
        Ok(())
    }

    fn delete_image(&self, img: &ImageRecord) -> Result<()> {
        self.store.db().write(|tx| {
            tx.execute("DELETE FROM images WHERE id = ?1", [&img.id])
                .map_err(berth_store::StoreError::from)?;
            Ok(())
        })?;
        let still_used: HashSet<String> = self
            .list()?
            .iter()
            .flat_map(|i| {
                let mut v = vec![i.id.clone()];
                v.extend(i.manifest_digest.clone());
                v
            })
            .collect();
        for d in [Some(img.id.clone()), img.manifest_digest.clone()]
            .into_iter()
            .flatten()
        {
            if !still_used.contains(&d) {
                if let Ok(d) = Digest::parse(&d) {
                    let _ = self.store.blobs().delete(&d);
                }
            }
        }
        self.gc_layers()?;
        Ok(())
    }

    /// Removes layers no image references; returns the bytes freed. Rows go in one
    /// transaction (children before parents); directories after it commits.
    pub fn gc_layers(&self) -> Result<u64> {
        let removed: Vec<(String, u64)> = self.store.db().write(|tx| {
            let map = |e: rusqlite::Error| berth_store::StoreError::from(e);
            let mut removed = Vec::new();
            loop {
                let mut stmt = tx
                    .prepare(
                        "SELECT chain_id, dir, size FROM layers
                         WHERE chain_id NOT IN (SELECT chain_id FROM image_layers)
                           AND chain_id NOT IN (SELECT parent FROM layers WHERE parent IS NOT NULL)",
                    )
                    .map_err(map)?;
                let rows: Vec<(String, String, i64)> = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(map)?
                    .collect::<rusqlite::Result<_>>()
                    .map_err(map)?;
                drop(stmt);
                if rows.is_empty() {
                    break;
                }
                for (chain, dir, size) in rows {
                    tx.execute("DELETE FROM layers WHERE chain_id = ?1", [&chain]).map_err(map)?;
                    removed.push((dir, size as u64));
                }
            }
            Ok(removed)
        })?;
        let mut freed = 0;
        for (dir, size) in removed {
            let path = self.layers_dir().join(&dir);
            let _ = fs::remove_dir_all(&path);
            freed += size;
        }
        Ok(freed)
    }

    /// `image prune`: dangling (untagged) images, or with `all` every image no
    /// container uses.
    pub fn prune(&self, all: bool, in_use: &dyn Fn(&str) -> bool) -> Result<(Vec<Removal>, u64)> {
        let mut out = Vec::new();
        let mut freed = 0;
        for img in self.list()? {
            if in_use(&img.id) || (!all && !img.tags.is_empty()) {
                continue;
            }
            for t in &img.tags {
                out.push(Removal::Untagged(t.clone()));
            }
            let before = self.disk_usage_layers()?;
            self.delete_image(&img)?;
            freed += before.saturating_sub(self.disk_usage_layers()?);
            out.push(Removal::Deleted(img.id.clone()));
        }
        Ok((out, freed))
    }

    /// Bytes of layers in the store (each shared layer once): unpacked content plus
    /// the compressed blobs kept for pushing.
    pub fn disk_usage_layers(&self) -> Result<u64> {
        let total: i64 = self.store.db().conn().query_row(
            "SELECT COALESCE(SUM(size + COALESCE(blob_size, 0)), 0) FROM layers",
            [],
            |r| r.get(0),
        )?;
        Ok(total as u64)
    }

    /// Bytes the image's layers take on disk: unpacked content plus kept blobs.
    pub fn disk_size(&self, img: &ImageRecord) -> Result<u64> {
        let mut total = 0;
        for c in &img.layers {
            if let Some(l) = self.layer(c)? {
                total += l.size + l.blob.map_or(0, |b| b.size);
            }
        }
        Ok(total)
    }

    /// Bytes of the layers only this image uses (what removing it would free).
    pub fn unique_size(&self, img: &ImageRecord) -> Result<u64> {
        let mut total = 0;
        let others: HashSet<String> = self
            .list()?
            .into_iter()
            .filter(|i| i.id != img.id)
            .flat_map(|i| i.layers)
            .collect();
        for c in &img.layers {
            if !others.contains(c) {
                if let Some(l) = self.layer(c)? {
                    total += l.size + l.blob.map_or(0, |b| b.size);
                }
            }
        }
        Ok(total)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    Untagged(String),
    Deleted(String),
}

fn stage_layer(layers_dir: &Path, index: usize, src: &LayerSource<'_>) -> Result<Staged> {
    let raw = (src.open)().ctx(|| format!("opening layer {}", src.diff_id))?;
    let keep = src
        .keep_blob_as
        .as_deref()
        .filter(|_| src.blob_digest.as_deref().is_some_and(|b| b != src.diff_id));
    stage_reader(
        layers_dir,
        index,
        raw,
        Some(&src.diff_id),
        src.blob_digest.as_deref(),
        BlobHandling {
            verified: src.blob_verified,
            keep_as: keep,
        },
    )
}

/// What `stage_reader` does with the raw (compressed) stream besides unpacking it.
#[derive(Default)]
struct BlobHandling<'a> {
    /// The source checks the blob digest itself.
    verified: bool,
    /// Tee the raw bytes into the layer's blob file under this media type.
    keep_as: Option<&'a str>,
}

/// Copies what is read into a file as well: the compressed blob is kept in the same
/// pass that unpacks it, without reading the download twice.
struct TeeReader<R> {
    inner: R,
    out: std::io::BufWriter<crate::drop_behind::DropBehind>,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            // Surface a failed write-back (disk full) instead of losing it in Drop.
            self.out.flush()?;
        }
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Unpacks one layer stream into a private temp dir next to the final location,
/// checking the digests it must have.
fn stage_reader(
    layers_dir: &Path,
    index: usize,
    raw: impl Read,
    expected_diff_id: Option<&str>,
    expected_blob: Option<&str>,
    blob: BlobHandling<'_>,
) -> Result<Staged> {
    let tmp = layers_dir.join(format!(".tmp-{}-{}-{index}", std::process::id(), unique()));
    let diff = tmp.join("diff");
    fs::create_dir_all(&diff).ctx(|| format!("creating {}", diff.display()))?;
    let result = (|| {
        // The stored blob's own digest is a second hash over the same bytes: only
        // worth it when a manifest names one that is not the diff id (compressed).
        let blob_check = expected_blob.filter(|b| Some(*b) != expected_diff_id);
        let tee: Box<dyn Read> = match blob.keep_as {
            Some(_) => {
                let path = tmp.join(LAYER_BLOB);
                let f = fs::File::create(&path).ctx(|| format!("creating {}", path.display()))?;
                Box::new(TeeReader {
                    inner: raw,
                    out: std::io::BufWriter::with_capacity(
                        256 * 1024,
                        crate::drop_behind::DropBehind::new(f),
                    ),
                })
            }
            None => Box::new(raw),
        };
        let mut blob_hash =
            crate::hashing::DigestReader::hashing(tee, blob_check.is_some() && !blob.verified);
        let plain =
            layer::decompress(&mut blob_hash).ctx(|| format!("reading layer {}", index + 1))?;
        let mut counted = CountingReader { inner: plain, n: 0 };
        let extracted = layer::extract(
            &mut counted,
            &diff,
            &layer::ExtractOptions {
                tar_split: Some(tmp.join("tar-split.zst")),
                ..Default::default()
            },
        )?;
        let tar_size = counted.n;
        drop(counted);
        if let Some(want) = expected_diff_id {
            if extracted.diff_id != want {
                return Err(ImageError::Invalid {
                    what: format!("layer {}", index + 1),
                    why: format!(
                        "its content has digest {} but the image config says {want}: the archive is corrupt or was altered",
                        extracted.diff_id
                    ),
                });
            }
        }
        // The unpacker may stop at the tar's end-of-archive blocks: drain the rest so
        // the blob's digest (and a kept copy) covers every byte.
        std::io::copy(&mut blob_hash, &mut std::io::sink())
            .ctx(|| format!("reading the end of layer {}", index + 1))?;
        let (blob_digest, blob_len) = blob_hash.finish();
        if let (Some(want), Some(blob_digest)) = (blob_check, &blob_digest) {
            if blob_digest != want && extracted.diff_id != want {
                return Err(ImageError::Invalid {
                    what: format!("layer {}", index + 1),
                    why: format!("its blob has digest {blob_digest} but the manifest says {want}"),
                });
            }
        }
        let kept = match (blob.keep_as, blob_check) {
            (Some(media_type), Some(digest)) => Some(LayerBlob {
                digest: digest.to_string(),
                size: blob_len,
                media_type: media_type.to_string(),
            }),
            _ => None,
        };
        Ok(Staged {
            index,
            tmp: tmp.clone(),
            diff_id: extracted.diff_id,
            size: extracted.size,
            tar_size,
            blob: kept,
        })
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

struct Staged {
    index: usize,
    tmp: PathBuf,
    diff_id: String,
    size: u64,
    tar_size: u64,
    blob: Option<LayerBlob>,
}

struct CountingReader<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// Short, fixed-length directory names keep overlay's lowerdir option (limited to a
/// page) within bounds for images with many layers.
fn layer_dir_name(chain: &str) -> String {
    let hex = chain.strip_prefix("sha256:").unwrap_or(chain);
    hex[..hex.len().min(16)].to_string()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    t ^ (N.fetch_add(1, Ordering::Relaxed) << 32)
}

pub fn now() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}
