//! The exported build cache as OCI content: one image manifest whose config blob
//! (media type [`CONFIG_MEDIA_TYPE`]) lists the step records, and whose layers are
//! the compressed layer blobs the records name. In a directory it is an OCI image
//! layout (`oci-layout`, `index.json`, `blobs/sha256/..`); in a registry the manifest
//! is pushed under the cache's tag. Any OCI registry stores it, as it is an ordinary
//! image manifest with a config type of its own (which also keeps runtimes from
//! mistaking it for a runnable image).

use serde::{Deserialize, Serialize};

pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.berth.buildcache.config.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The `oci-layout` file of an image layout directory.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
/// The tag a layout's `index.json` gives the cache manifest.
pub const LAYOUT_TAG: &str = "latest";

/// One step: its cache key and what the step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    /// The layer's diff id; `None` for a step that changed no file.
    #[serde(rename = "diffID")]
    pub diff_id: Option<String>,
    /// When the step first ran (its history entry's time, so a rebuild from the
    /// cache gives the same image id).
    pub created: Option<String>,
    /// The digest of the layer blob in the manifest, when there is a layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
}

/// The config blob: the records, sorted by key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    #[serde(rename = "berthBuildCacheVersion")]
    pub version: u32,
    pub records: Vec<Record>,
}

/// A blob as a descriptor names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug, Deserialize)]
struct ManifestIn {
    config: Blob,
    #[serde(default)]
    layers: Vec<Blob>,
}

pub fn sha256(bytes: &[u8]) -> String {
    berth_store::Digest::of_bytes(bytes).to_string()
}

/// The manifest of a cache whose config blob is `config` and layers `layers`.
pub fn manifest(config: &Blob, layers: &[Blob]) -> Vec<u8> {
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    serde_json::to_vec(&m).expect("JSON value")
}

/// A layout's `index.json` pointing at the manifest.
pub fn index(manifest: &Blob) -> Vec<u8> {
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": manifest.media_type,
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": {"org.opencontainers.image.ref.name": LAYOUT_TAG},
        }],
    });
    serde_json::to_vec_pretty(&m).expect("JSON value")
}

/// The manifest an `index.json` lists (the cache's; there is one).
pub fn manifest_in_index(bytes: &[u8]) -> Result<Blob, String> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Blob>,
    }
    let idx: Index = serde_json::from_slice(bytes)
        .map_err(|e| format!("index.json is not an OCI index: {e}"))?;
    idx.manifests
        .into_iter()
        .find(|m| m.media_type == OCI_MANIFEST)
        .ok_or_else(|| "index.json lists no OCI image manifest".to_string())
}

/// The config descriptor and layers of a cache manifest; an error for any other
/// manifest (an image, say), as records cannot be read from it.
pub fn parse_manifest(bytes: &[u8]) -> Result<(Blob, Vec<Blob>), String> {
    let m: ManifestIn = serde_json::from_slice(bytes)
        .map_err(|e| format!("the manifest is not an OCI image manifest: {e}"))?;
    if m.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(format!(
            "it is not a berth build cache (its config is {}, not {CONFIG_MEDIA_TYPE}); \
             export one with --cache-to",
            m.config.media_type
        ));
    }
    Ok((m.config, m.layers))
}

pub fn parse_config(bytes: &[u8]) -> Result<CacheConfig, String> {
    let c: CacheConfig =
        serde_json::from_slice(bytes).map_err(|e| format!("the cache config is not valid: {e}"))?;
    if c.version != 1 {
        return Err(format!(
            "cache format version {} is newer than this berth reads (1); export it again",
            c.version
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_images_are_refused() {
        let cfg = Blob {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: "sha256:c".into(),
            size: 10,
        };
        let layer = Blob {
            media_type: OCI_LAYER_GZIP.into(),
            digest: "sha256:l".into(),
            size: 99,
        };
        let m = manifest(&cfg, std::slice::from_ref(&layer));
        assert_eq!(parse_manifest(&m).unwrap(), (cfg.clone(), vec![layer]));
        let mb = Blob {
            media_type: OCI_MANIFEST.into(),
            digest: sha256(&m),
            size: m.len() as u64,
        };
        assert_eq!(manifest_in_index(&index(&mb)).unwrap(), mb);
        let image = manifest(
            &Blob {
                media_type: "application/vnd.oci.image.config.v1+json".into(),
                ..cfg
            },
            &[],
        );
        assert!(parse_manifest(&image)
            .unwrap_err()
            .contains("not a berth build cache"));
    }

    #[test]
    fn records_serialize_as_documented() {
        let c = CacheConfig {
            version: 1,
            records: vec![Record {
                key: "k".into(),
                diff_id: None,
                created: Some("2026-01-01T00:00:00Z".into()),
                blob: None,
            }],
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(
            text,
            r#"{"berthBuildCacheVersion":1,"records":[{"key":"k","diffID":null,"created":"2026-01-01T00:00:00Z"}]}"#
        );
        assert_eq!(parse_config(text.as_bytes()).unwrap(), c);
        assert!(
            parse_config(br#"{"berthBuildCacheVersion":2,"records":[]}"#)
                .unwrap_err()
                .contains("version 2")
        );
    }
}
