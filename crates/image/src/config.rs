//! An image config (the OCI/Docker image JSON) kept as raw JSON so nothing a builder
//! wrote is lost (Docker's extra fields, Healthcheck, OnBuild...), with typed accessors
//! for what berth needs.

use serde_json::Value;

use crate::error::{ImageError, Result};

#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub raw: Value,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig> {
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| ImageError::Invalid {
            what: "config".into(),
            why: e.to_string(),
        })?;
        if !raw.is_object() {
            return Err(ImageError::Invalid {
                what: "config".into(),
                why: "it is not a JSON object".into(),
            });
        }
        Ok(ImageConfig { raw })
    }

    pub fn diff_ids(&self) -> Result<Vec<String>> {
        let ids = self.raw["rootfs"]["diff_ids"]
            .as_array()
            .ok_or_else(|| ImageError::Invalid {
                what: "config".into(),
                why: "rootfs.diff_ids is missing".into(),
            })?;
        ids.iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ImageError::Invalid {
                        what: "config".into(),
                        why: "rootfs.diff_ids holds a non-string".into(),
                    })
            })
            .collect()
    }

    pub fn created(&self) -> Option<String> {
        self.raw["created"].as_str().map(str::to_string)
    }

    pub fn os(&self) -> String {
        self.raw["os"].as_str().unwrap_or("linux").to_string()
    }

    pub fn architecture(&self) -> String {
        self.raw["architecture"]
            .as_str()
            .unwrap_or("amd64")
            .to_string()
    }

    /// The runtime settings (`config` object: Env, Cmd, Entrypoint, ...).
    pub fn container_config(&self) -> &Value {
        &self.raw["config"]
    }

    pub fn labels(&self) -> Vec<(String, String)> {
        self.raw["config"]["Labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn history(&self) -> Vec<Value> {
        self.raw["history"].as_array().cloned().unwrap_or_default()
    }
}

/// The OCI chain id of a layer stack: `sha256(parent_chain + " " + diff_id)`, with the
/// first layer's chain id being its diff id.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => {
                berth_store::Digest::of_bytes(format!("{parent} {d}").as_bytes()).to_string()
            }
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(
            c[1],
            berth_store::Digest::of_bytes(format!("{a} {b}").as_bytes()).to_string()
        );
    }

    #[test]
    fn config_accessors() {
        let c = ImageConfig::parse(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:00"]},"config":{"Labels":{"a":"b"}}}"#).unwrap();
        assert_eq!(c.diff_ids().unwrap(), vec!["sha256:00"]);
        assert_eq!(c.labels(), vec![("a".into(), "b".into())]);
        assert!(ImageConfig::parse(b"[]").is_err());
    }
}
