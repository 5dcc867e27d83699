//! `diff`: what a container changed relative to its image, read from the snapshot's
//! upper directory: `A` added, `C` changed, `D` deleted (an overlay whiteout).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Changed,
    Added,
    Deleted,
}

impl Kind {
    pub fn letter(self) -> char {
        match self {
            Kind::Changed => 'C',
            Kind::Added => 'A',
            Kind::Deleted => 'D',
        }
    }

    /// Docker's numeric `Kind` in the API: 0 modified, 1 added, 2 deleted.
    pub fn code(self) -> u8 {
        match self {
            Kind::Changed => 0,
            Kind::Added => 1,
            Kind::Deleted => 2,
        }
    }
}

/// Mount points the runtime creates in the rootfs when the image lacks them. They
/// are not the container's changes: `diff` hides them and `commit` leaves them out,
/// as Docker does with its init layer.
const STUBS: &[&str] = &[
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "proc",
    "sys",
    "sys/fs/cgroup",
    "dev",
    "dev/pts",
    "dev/shm",
    "dev/mqueue",
    "dev/console",
    "run",
    "run/berth-init",
];

/// The stubs present in `upper` that are empty and absent from every lower layer.
pub fn runtime_stubs(upper: &Path, lowers: &[PathBuf]) -> Vec<String> {
    STUBS
        .iter()
        .filter(|s| {
            let Ok(md) = fs::symlink_metadata(upper.join(s)) else {
                return false;
            };
            let empty = if md.is_dir() {
                fs::read_dir(upper.join(s)).is_ok_and(|mut d| d.next().is_none())
            } else {
                md.is_file() && md.len() == 0
            };
            empty
                && !lowers
                    .iter()
                    .any(|l| fs::symlink_metadata(l.join(s)).is_ok())
        })
        .map(|s| s.to_string())
        .collect()
}

/// Returns whether anything under `rel` was reported.
fn walk(
    upper: &Path,
    rel: &Path,
    lowers: &[PathBuf],
    stubs: &[String],
    out: &mut Vec<(String, Kind)>,
) -> bool {
    let Ok(rd) = fs::read_dir(upper.join(rel)) else {
        return false;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    let mut any = false;
    for e in entries {
        let r = rel.join(e.file_name());
        if stubs.iter().any(|s| Path::new(s) == r) {
            continue;
        }
        let Ok(md) = e.metadata() else { continue };
        let shown = format!("/{}", r.display());
        let whiteout = md.file_type().is_char_device() && md.rdev() == 0;
        let in_lower = lowers
            .iter()
            .any(|l| fs::symlink_metadata(l.join(&r)).is_ok());
        if whiteout {
            out.push((shown, Kind::Deleted));
            any = true;
            continue;
        }
        let at = out.len();
        out.push((shown, if in_lower { Kind::Changed } else { Kind::Added }));
        let children = md.is_dir() && walk(upper, &r, lowers, stubs, out);
        // A directory copied up only because the runtime put a stub in it is not
        // a change of the container's.
        let only_stubs = in_lower
            && md.is_dir()
            && !children
            && stubs.iter().any(|s| Path::new(s).starts_with(&r));
        if only_stubs {
            out.remove(at);
        } else {
            any = true;
        }
    }
    any
}

impl Engine {
    /// The unpacked layer directories of the container's image.
    pub fn lower_dirs(&self, c: &crate::records::Container) -> Result<Vec<PathBuf>> {
        let image = self.images().resolve(&c.image_id)?;
        let mut lowers = Vec::new();
        for chain in &image.layers {
            if let Some(l) = self.images().layer(chain)? {
                lowers.push(self.images().layer_diff_path(&l.dir));
            }
        }
        Ok(lowers)
    }

    pub fn changes(&self, key: &str) -> Result<Vec<(String, Kind)>> {
        let c = self.find(key)?;
        let lowers = self.lower_dirs(&c)?;
        let upper = self.images().snapshots_dir().join(&c.id).join("upper");
        let stubs = runtime_stubs(&upper, &lowers);
        let mut out = Vec::new();
        walk(&upper, Path::new(""), &lowers, &stubs, &mut out);
        Ok(out)
    }
}
