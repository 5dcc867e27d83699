//! Manifests: media types, the fields pull needs, platform selection from an index or
//! manifest list, and fetching with content negotiation and digest verification.

use serde::Deserialize;

use super::error::{ClientError, Result};
use super::transport::Registry;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Everything berth can use, most specific first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<Platform>,
    #[serde(default)]
    pub urls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn parse(s: &str) -> std::result::Result<Platform, String> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => Err(format!(
                "invalid platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }

    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: berth_image::platform::host_arch().into(),
            variant: None,
        }
    }

    fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Set for indexes and manifest lists.
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
}

/// A manifest as fetched: its bytes, the media type the registry gave, and its digest
/// (already verified).
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
    pub parsed: Manifest,
}

impl Fetched {
    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX
            || self.media_type == DOCKER_LIST
            || (self.parsed.manifests.is_some() && self.parsed.config.is_none())
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    berth_store::Digest::of_bytes(bytes).to_string()
}

/// Picks the manifest for `want` from an index; Docker's rule of skipping attestation
/// entries (`unknown/unknown`) falls out of the platform match.
pub fn select<'a>(index: &'a Manifest, want: &Platform) -> Option<&'a Descriptor> {
    let list = index.manifests.as_ref()?;
    list.iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        // arm64 images often carry variant v8; a request without variant takes any.
        .or_else(|| {
            list.iter().find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
            })
        })
}

pub fn available(index: &Manifest) -> String {
    index
        .manifests
        .iter()
        .flatten()
        .filter_map(|d| d.platform.as_ref().map(|p| p.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// GETs `reference` (a tag or digest) with content negotiation, checking the content
/// against the digest asked for, or else the one the registry announced.
pub async fn fetch(reg: &Registry, repository: &str, reference: &str) -> Result<Fetched> {
    let scope = format!("repository:{repository}:pull");
    let url = reg.url(&format!("{repository}/manifests/{reference}"));
    let resp = reg
        .send(
            &format!("GET manifest {repository}:{reference}"),
            &scope,
            |c| c.get(&url).header("Accept", ACCEPT),
        )
        .await?;
    if !resp.status().is_success() {
        return Err(reg
            .error(resp, repository, &format!("manifest {reference}"))
            .await);
    }
    let media_type = resp
        .headers()
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
        .unwrap_or_default();
    let announced = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Network {
            registry: reg.name.clone(),
            what: format!("reading manifest {repository}:{reference}"),
            why: super::transport::error_chain(&e),
        })?
        .to_vec();
    let digest = sha256(&bytes);
    let expected = if reference.contains(':') {
        Some(reference.to_string())
    } else {
        announced
    };
    if let Some(want) = expected.filter(|w| w.starts_with("sha256:")) {
        if want != digest {
            return Err(ClientError::Digest {
                registry: reg.name.clone(),
                repository: repository.to_string(),
                what: format!("manifest {reference}"),
                expected: want,
                actual: digest,
            });
        }
    }
    let parsed: Manifest = serde_json::from_slice(&bytes).map_err(|e| ClientError::Invalid {
        registry: reg.name.clone(),
        repository: repository.to_string(),
        why: format!("manifest {reference} is not valid JSON: {e}"),
    })?;
    let media_type = if media_type.is_empty() || media_type == "application/json" {
        parsed.media_type.clone().unwrap_or_default()
    } else {
        media_type
    };
    if media_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
        return Err(ClientError::Invalid {
            registry: reg.name.clone(),
            repository: repository.to_string(),
            why: format!("manifest {reference} is Docker schema 1 ({media_type}), which berth does not support; push it again with a current client"),
        });
    }
    Ok(Fetched {
        bytes,
        media_type,
        digest,
        parsed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_platform() {
        let idx: Manifest = serde_json::from_str(
            r#"{"manifests":[
            {"digest":"sha256:a","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:b","size":1,"platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:c","size":1,"platform":{"os":"unknown","architecture":"unknown"}}]}"#,
        )
        .unwrap();
        let amd = Platform::parse("linux/amd64").unwrap();
        assert_eq!(select(&idx, &amd).unwrap().digest, "sha256:b");
        let arm = Platform::parse("linux/arm64").unwrap();
        assert_eq!(select(&idx, &arm).unwrap().digest, "sha256:a");
        let arm7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(select(&idx, &arm7).is_none());
        assert!(Platform::parse("linux").is_err());
    }
}
