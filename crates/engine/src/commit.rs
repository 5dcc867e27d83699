//! `commit`: a new image from a container: its image's layers plus one layer made
//! from the snapshot's upper directory, and a config from the container's settings
//! with `--change` instructions applied.

use std::fs;
use std::io::BufWriter;

use berth_image::store::LayerSource;
use berth_image::ImageRef;
use serde_json::{json, Value};

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};

pub struct CommitOptions<'a> {
    pub tag: Option<ImageRef>,
    pub changes: &'a [String],
    pub message: Option<&'a str>,
    pub author: Option<&'a str>,
    pub pause: bool,
}

impl Engine {
    pub fn commit(&self, key: &str, opts: &CommitOptions<'_>) -> Result<berth_image::ImageRecord> {
        let c = self.find(key)?;
        let image = self.images().resolve(&c.image_id)?;
        let base = self.images().config(&image)?;
        let _access = self.access_rootfs(&c, opts.pause)?;
        let upper = self.images().snapshots_dir().join(&c.id).join("upper");
        let tmp = self.images().store().tmp_dir();
        fs::create_dir_all(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let layer_file = tmp.join(format!(
            "commit-{}-{}.tar",
            c.short_id(),
            std::process::id()
        ));
        let stats = {
            let f = fs::File::create(&layer_file)
                .ctx(|| format!("creating {}", layer_file.display()))?;
            let opts = berth_image::layer::DiffOptions {
                exclude: crate::changes::runtime_stubs(&upper, &self.lower_dirs(&c)?),
                ..Default::default()
            };
            berth_image::layer::diff(&upper, BufWriter::new(f), &opts).map_err(|e| {
                EngineError::invalid(
                    format!("changes of container {}", c.short_id()),
                    e.to_string(),
                )
            })?
        };
        let result = (|| {
            let mut diff_ids = base.diff_ids()?;
            diff_ids.push(stats.diff_id.clone());
            let n = diff_ids.len();
            let sources: Vec<LayerSource<'_>> = diff_ids
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let path = layer_file.clone();
                    let last = i + 1 == n;
                    LayerSource {
                        diff_id: d.clone(),
                        blob_digest: None,
                        blob_verified: false,
                        keep_blob_as: None,
                        open: Box::new(move || {
                            if last {
                                Ok(Box::new(fs::File::open(&path)?)
                                    as Box<dyn std::io::Read + Send>)
                            } else {
                                // The image's own layers are in the store already.
                                Err(std::io::Error::other("base layer missing from the store"))
                            }
                        }),
                    }
                })
                .collect();
            self.images().add_layers(&sources)?;
            let mut raw = base.raw.clone();
            let mut cfg = serde_json::to_value(&c.settings.config).unwrap_or(json!({}));
            if let Value::Object(m) = &mut cfg {
                // Host-specific or per-run fields do not belong in an image.
                for k in [
                    "Hostname",
                    "Domainname",
                    "AttachStdin",
                    "AttachStdout",
                    "AttachStderr",
                    "Tty",
                    "OpenStdin",
                    "StdinOnce",
                    "Image",
                ] {
                    m.remove(k);
                }
                for ch in opts.changes {
                    berth_image::archive::import::apply_change(m, ch)?;
                }
            }
            let created = berth_image::store::now();
            raw["config"] = cfg;
            raw["created"] = json!(created);
            raw["rootfs"]["diff_ids"] = json!(diff_ids);
            if let Some(a) = opts.author {
                raw["author"] = json!(a);
            }
            let mut hist = json!({"created": created, "created_by": berth_engine_cmd(&c)});
            if let Some(m) = opts.message.filter(|m| !m.is_empty()) {
                hist["comment"] = json!(m);
            }
            if let Some(a) = opts.author {
                hist["author"] = json!(a);
            }
            match raw["history"].as_array_mut() {
                Some(h) => h.push(hist),
                None => raw["history"] = json!([hist]),
            }
            let bytes = serde_json::to_vec(&raw).unwrap_or_default();
            let tags: Vec<ImageRef> = opts.tag.iter().cloned().collect();
            Ok(self.images().add_image(&bytes, None, &tags, None)?)
        })();
        let _ = fs::remove_file(&layer_file);
        result
    }
}

fn berth_engine_cmd(c: &crate::records::Container) -> String {
    crate::spec::argv(&c.settings).join(" ")
}
