//! The build cache index: one small file per step key under `<store>/build-cache/`,
//! naming the layer the step produced (its diff id, or none for a step that changed
//! no file). A key is a digest of the parent step's key and everything the step
//! depends on (its expanded instruction, its environment, the content of what it
//! copies), so a hit means the layer can be reused as it is. The layer itself lives
//! in the image store; a hit whose layer was removed there is a miss.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{io_at, Result};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// The layer's diff id; `None` for an empty layer.
    pub diff_id: Option<String>,
    /// When the step first ran: a cached rebuild records the same history, so an
    /// unchanged build gives the same image id.
    #[serde(default)]
    pub created: Option<String>,
}

pub struct Cache {
    dir: PathBuf,
}

/// The key of a step: its parent's key and what the step is, as canonical JSON.
pub fn key(parent: &str, step: &Value) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update([0]);
    h.update(step.to_string().as_bytes());
    hex::encode(h.finalize())
}

impl Cache {
    pub fn open(store_root: &Path) -> Cache {
        Cache {
            dir: store_root.join("build-cache"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        let bytes = fs::read(self.dir.join(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Written to a temp name and renamed, so a reader never sees half an entry.
    /// The temp name is the thread's too: two stages may write the same step.
    pub fn put(&self, key: &str, e: &Entry) -> Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(&self.dir).map_err(io_at("creating", &self.dir))?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".{key}.{}.{n}", std::process::id()));
        fs::write(&tmp, serde_json::to_vec(e).unwrap_or_default())
            .map_err(io_at("writing", &tmp))?;
        fs::rename(&tmp, self.dir.join(key)).map_err(io_at("renaming", &tmp))
    }

    /// `builder prune`: forgets every entry. Returns how many there were.
    pub fn clear(&self) -> Result<usize> {
        let mut n = 0;
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        for e in rd.flatten() {
            fs::remove_file(e.path()).map_err(io_at("removing", e.path()))?;
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_chain_and_entries_round_trip() {
        let a = key("", &json!({"op": "RUN", "cmd": "x"}));
        assert_ne!(a, key("", &json!({"op": "RUN", "cmd": "y"})));
        assert_ne!(key(&a, &json!(1)), key("", &json!(1)));
        let d = tempfile::tempdir().unwrap();
        let c = Cache::open(d.path());
        assert!(c.get(&a).is_none());
        let e = Entry {
            diff_id: Some("sha256:ab".into()),
            created: Some("2026-01-01T00:00:00Z".into()),
        };
        c.put(&a, &e).unwrap();
        assert_eq!(c.get(&a), Some(e));
        assert_eq!(c.clear().unwrap(), 1);
        assert!(c.get(&a).is_none());
    }
}
