//! `load`: docker-archive (`docker save`, `podman save`), oci-archive and OCI layout
//! directories, optionally gzip- or zstd-compressed, from a file or stdin.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::source::{DirSource, Source, TarSource};
use crate::error::{ImageError, IoContext, Result};
use crate::reference::ImageRef;
use crate::store::{ImageRecord, ImageStore, LayerSource};

pub struct Loaded {
    pub image: ImageRecord,
    /// Names the archive gave the image (canonical form).
    pub names: Vec<String>,
}

/// Loads every image in the archive at `path` (`-` reads stdin).
pub fn load(store: &ImageStore, path: &Path) -> Result<Vec<Loaded>> {
    if path.is_dir() {
        return load_from(
            store,
            &DirSource {
                dir: path.to_path_buf(),
            },
        );
    }
    let stdin = path == Path::new("-");
    let mut input: Box<dyn Read> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?)
    };
    let mut magic = [0u8; 4];
    let n = read_full(&mut input, &mut magic).ctx(|| format!("reading {}", path.display()))?;
    let compressed = crate::layer::detect(&magic[..n]) != crate::layer::Compression::None;
    if !stdin && !compressed {
        let src = TarSource::index(path).map_err(|e| not_an_archive(path, e))?;
        return load_from(store, &src);
    }
    // Streams and compressed archives are spooled, decompressed, to a temp file in the
    // store (same filesystem), then read in place like any other archive.
    let spool = store
        .store()
        .tmp_dir()
        .join(format!("load-{}.tar", std::process::id()));
    let result = (|| {
        let chained = std::io::Cursor::new(magic[..n].to_vec()).chain(input);
        let mut plain =
            crate::layer::decompress(chained).ctx(|| "decompressing the archive".into())?;
        let mut f =
            std::fs::File::create(&spool).ctx(|| format!("creating {}", spool.display()))?;
        std::io::copy(&mut plain, &mut f).ctx(|| "reading the archive".into())?;
        drop(f);
        let src = TarSource::index(&spool).map_err(|e| not_an_archive(path, e))?;
        load_from(store, &src)
    })();
    let _ = std::fs::remove_file(&spool);
    result
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn not_an_archive(path: &Path, e: std::io::Error) -> ImageError {
    ImageError::Invalid {
        what: format!("archive {}", path.display()),
        why: format!("it is not a readable tar archive ({e})"),
    }
}

fn invalid(what: &str, why: impl Into<String>) -> ImageError {
    ImageError::Invalid {
        what: what.to_string(),
        why: why.into(),
    }
}

fn json(src: &dyn Source, name: &str) -> Result<Value> {
    let bytes = src
        .read(name)
        .ctx(|| format!("reading {name} from the archive"))?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(name, e.to_string()))
}

pub fn load_from(store: &ImageStore, src: &dyn Source) -> Result<Vec<Loaded>> {
    if src.exists("manifest.json") {
        let manifest = json(src, "manifest.json")?;
        if manifest.is_object() {
            return load_manifest_dir(store, src, manifest);
        }
        load_docker(store, src, manifest)
    } else if src.exists("index.json") {
        load_oci(store, src)
    } else {
        Err(invalid(
            "archive",
            "it has neither manifest.json (docker-archive) nor index.json (OCI layout)",
        ))
    }
}

fn blob_name(digest: &str) -> Result<String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| invalid("descriptor", format!("digest {digest:?} has no algorithm")))?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) || alg.contains('/') {
        return Err(invalid(
            "descriptor",
            format!("digest {digest:?} is malformed"),
        ));
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

fn layer_sources<'a>(
    src: &'a dyn Source,
    config: &[u8],
    layers: Vec<(String, Option<String>)>,
) -> Result<Vec<LayerSource<'a>>> {
    let cfg = crate::config::ImageConfig::parse(config)?;
    let diff_ids = cfg.diff_ids()?;
    if diff_ids.len() != layers.len() {
        return Err(invalid(
            "image",
            format!(
                "its config lists {} layers but the archive has {}",
                diff_ids.len(),
                layers.len()
            ),
        ));
    }
    Ok(diff_ids
        .into_iter()
        .zip(layers)
        .map(|(diff_id, (name, blob_digest))| LayerSource {
            diff_id,
            blob_digest,
            blob_verified: false,
            keep_blob_as: None,
            open: Box::new(move || src.open(&name)),
        })
        .collect())
}

/// One image of an archive, read and checked before anything is stored, so a broken
/// entry anywhere in a multi-image archive stores nothing.
struct Pending<'a> {
    config: Vec<u8>,
    manifest: Option<Vec<u8>>,
    sources: Vec<LayerSource<'a>>,
    tags: Vec<ImageRef>,
}

fn store_all(store: &ImageStore, pending: Vec<Pending<'_>>) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for p in pending {
        store.add_layers(&p.sources)?;
        let image = store.add_image(&p.config, p.manifest.as_deref(), &p.tags, None)?;
        out.push(Loaded {
            names: p.tags.iter().filter_map(|t| t.tagged()).collect(),
            image,
        });
    }
    Ok(out)
}

fn check_layers_present(src: &dyn Source, names: &[(String, Option<String>)]) -> Result<()> {
    for (name, _) in names {
        if !src.exists(name) {
            return Err(invalid("archive", format!("layer {name} is missing")));
        }
    }
    Ok(())
}

fn load_docker(store: &ImageStore, src: &dyn Source, manifest: Value) -> Result<Vec<Loaded>> {
    let entries = manifest.as_array().ok_or_else(|| {
        invalid(
            "manifest.json",
            "it is neither a list (docker-archive) nor a manifest (docker-dir)",
        )
    })?;
    let mut pending = Vec::new();
    for e in entries {
        let config_name = e["Config"]
            .as_str()
            .ok_or_else(|| invalid("manifest.json", "an entry has no Config"))?;
        let config = src
            .read(config_name)
            .ctx(|| format!("reading {config_name}"))?;
        let layers: Vec<(String, Option<String>)> = e["Layers"]
            .as_array()
            .ok_or_else(|| invalid("manifest.json", "an entry has no Layers"))?
            .iter()
            .map(|l| {
                let name = l.as_str().unwrap_or_default().to_string();
                // Newer docker-archives name layers by blob digest.
                let digest = name
                    .strip_prefix("blobs/sha256/")
                    .map(|h| format!("sha256:{h}"));
                (name, digest)
            })
            .collect();
        check_layers_present(src, &layers)?;
        let sources = layer_sources(src, &config, layers)?;
        let mut tags = Vec::new();
        for t in e["RepoTags"].as_array().into_iter().flatten() {
            if let Some(t) = t.as_str() {
                tags.push(ImageRef::parse(t)?);
            }
        }
        pending.push(Pending {
            config,
            manifest: None,
            sources,
            tags,
        });
    }
    store_all(store, pending)
}

/// A "docker-dir" (skopeo/podman `dir:` transports): one image manifest in
/// manifest.json and blobs named by their bare hex digest; it carries no name.
fn load_manifest_dir(store: &ImageStore, src: &dyn Source, manifest: Value) -> Result<Vec<Loaded>> {
    let bytes = src
        .read("manifest.json")
        .ctx(|| "reading manifest.json".into())?;
    let hex_name = |d: &str| -> Result<String> {
        let (_, hex) = d
            .split_once(':')
            .ok_or_else(|| invalid("manifest.json", format!("digest {d:?} has no algorithm")))?;
        Ok(hex.to_string())
    };
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| invalid("manifest.json", "it has no config descriptor"))?;
    let config = src
        .read(&hex_name(config_digest)?)
        .ctx(|| format!("reading config {config_digest}"))?;
    check_digest(&config, config_digest)?;
    let mut layers = Vec::new();
    for l in manifest["layers"].as_array().into_iter().flatten() {
        let d = l["digest"]
            .as_str()
            .ok_or_else(|| invalid("manifest.json", "a layer has no digest"))?;
        layers.push((hex_name(d)?, Some(d.to_string())));
    }
    check_layers_present(src, &layers)?;
    let sources = layer_sources(src, &config, layers)?;
    store_all(
        store,
        vec![Pending {
            config,
            manifest: Some(bytes),
            sources,
            tags: Vec::new(),
        }],
    )
}

const MEDIA_INDEX: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// Walks an index down to the manifest for this host's platform.
fn pick_manifest(src: &dyn Source, desc: &Value, depth: u32) -> Result<(Vec<u8>, String)> {
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| invalid("index", "a descriptor has no digest"))?;
    let bytes = src
        .read(&blob_name(digest)?)
        .ctx(|| format!("reading blob {digest}"))?;
    check_digest(&bytes, digest)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| invalid(digest, e.to_string()))?;
    let media = v["mediaType"]
        .as_str()
        .or(desc["mediaType"].as_str())
        .unwrap_or("");
    if MEDIA_INDEX.contains(&media) || (v["manifests"].is_array() && !v["layers"].is_array()) {
        if depth > 4 {
            return Err(invalid("index", "indexes nest too deeply"));
        }
        let manifests = v["manifests"].as_array().cloned().unwrap_or_default();
        let chosen = manifests
            .iter()
            .find(|m| {
                m["platform"]["os"] == "linux"
                    && m["platform"]["architecture"] == crate::platform::host_arch()
            })
            .or_else(|| manifests.iter().find(|m| m["platform"].is_null()))
            .ok_or_else(|| {
                invalid(
                    "index",
                    format!("it has no image for linux/{}", crate::platform::host_arch()),
                )
            })?;
        return pick_manifest(src, chosen, depth + 1);
    }
    Ok((bytes, digest.to_string()))
}

fn check_digest(bytes: &[u8], digest: &str) -> Result<()> {
    let got = berth_store::Digest::of_bytes(bytes).to_string();
    if got != digest {
        return Err(invalid(
            digest,
            format!("its content has digest {got}: the archive is corrupt"),
        ));
    }
    Ok(())
}

fn load_oci(store: &ImageStore, src: &dyn Source) -> Result<Vec<Loaded>> {
    let index = json(src, "index.json")?;
    let mut pending = Vec::new();
    for desc in index["manifests"].as_array().into_iter().flatten() {
        let (manifest_bytes, _manifest_digest) = pick_manifest(src, desc, 0)?;
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| invalid("manifest", e.to_string()))?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| invalid("manifest", "it has no config"))?;
        let config = src
            .read(&blob_name(config_digest)?)
            .ctx(|| format!("reading config {config_digest}"))?;
        check_digest(&config, config_digest)?;
        let mut layers = Vec::new();
        for l in manifest["layers"].as_array().into_iter().flatten() {
            let d = l["digest"]
                .as_str()
                .ok_or_else(|| invalid("manifest", "a layer has no digest"))?;
            layers.push((blob_name(d)?, Some(d.to_string())));
        }
        check_layers_present(src, &layers)?;
        let sources = layer_sources(src, &config, layers)?;
        let mut tags = Vec::new();
        let ann = &desc["annotations"];
        if let Some(full) = ann["io.containerd.image.name"].as_str() {
            tags.push(ImageRef::parse(full)?);
        } else if let Some(name) = ann["org.opencontainers.image.ref.name"].as_str() {
            // A bare tag ("latest") names no repository; only full references are used.
            if name.contains('/') || name.contains(':') {
                if let Ok(r) = ImageRef::parse(name) {
                    tags.push(r);
                }
            }
        }
        pending.push(Pending {
            config,
            manifest: Some(manifest_bytes),
            sources,
            tags,
        });
    }
    if pending.is_empty() {
        return Err(invalid("index.json", "it lists no images"));
    }
    store_all(store, pending)
}
