//! Named and anonymous volumes: a directory `volumes/<name>/_data` under the store and
//! a database row. A new volume mounted over a path that holds content in the image
//! gets a copy of that content (ownership and modes kept) on first use, as Docker does.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_store::Db;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::error::{EngineError, IoContext, Result};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub scope: String,
    #[serde(skip)]
    pub anonymous: bool,
}

pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(EngineError::invalid(
            format!("volume name {name:?}"),
            "use at least two characters from [a-zA-Z0-9][a-zA-Z0-9_.-]",
        ))
    }
}

pub fn data_dir(volumes_dir: &Path, name: &str) -> PathBuf {
    volumes_dir.join(name).join("_data")
}

fn row(volumes_dir: &Path, r: &rusqlite::Row<'_>) -> rusqlite::Result<Volume> {
    let name: String = r.get(0)?;
    let labels: String = r.get(3)?;
    let options: String = r.get(4)?;
    Ok(Volume {
        mountpoint: data_dir(volumes_dir, &name),
        name,
        driver: r.get(1)?,
        created_at: r.get(2)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        options: serde_json::from_str(&options).unwrap_or_default(),
        scope: "local".into(),
        anonymous: r.get::<_, i64>(5)? != 0,
    })
}

const COLS: &str = "name, driver, created, labels, options, anonymous";

pub fn get(db: &Db, volumes_dir: &Path, name: &str) -> Result<Volume> {
    db.conn()
        .query_row(
            &format!("SELECT {COLS} FROM volumes WHERE name = ?1"),
            [name],
            |r| row(volumes_dir, r),
        )
        .optional()?
        .ok_or_else(|| EngineError::NoSuchVolume(name.to_string()))
}

pub fn list(db: &Db, volumes_dir: &Path) -> Result<Vec<Volume>> {
    let mut stmt = db
        .conn()
        .prepare(&format!("SELECT {COLS} FROM volumes ORDER BY name"))?;
    let v = stmt
        .query_map([], |r| row(volumes_dir, r))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(v)
}

/// Creates the volume, or returns the existing one of that name (Docker's `volume
/// create` is idempotent).
pub fn create(
    db: &Db,
    volumes_dir: &Path,
    name: Option<&str>,
    labels: BTreeMap<String, String>,
    options: BTreeMap<String, String>,
) -> Result<Volume> {
    let anonymous = name.is_none();
    let name = match name {
        Some(n) => {
            validate_name(n)?;
            n.to_string()
        }
        None => crate::names::new_id(),
    };
    if let Some(k) = options.keys().next() {
        return Err(EngineError::invalid(
            format!("volume option {k:?}"),
            "the local driver of berth takes no options",
        ));
    }
    let dir = data_dir(volumes_dir, &name);
    fs::create_dir_all(&dir).ctx(|| format!("creating volume directory {}", dir.display()))?;
    let created = berth_image::store::now();
    db.write(|tx| {
        tx.execute(
            "INSERT OR IGNORE INTO volumes (name, driver, created, labels, options, anonymous)
             VALUES (?1, 'local', ?2, ?3, ?4, ?5)",
            params![
                name,
                created,
                serde_json::to_string(&labels).unwrap_or_default(),
                serde_json::to_string(&options).unwrap_or_default(),
                anonymous as i64
            ],
        )?;
        Ok(())
    })?;
    get(db, volumes_dir, &name)
}

/// Containers (ids) using the volume.
pub fn users(db: &Db, name: &str) -> Result<Vec<String>> {
    let mut stmt = db
        .conn()
        .prepare("SELECT container_id FROM container_volumes WHERE volume = ?1")?;
    let v = stmt
        .query_map([name], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(v)
}

pub fn remove(db: &Db, volumes_dir: &Path, name: &str, force: bool) -> Result<()> {
    let v = get(db, volumes_dir, name)?;
    let used = users(db, name)?;
    if !used.is_empty() && !force {
        return Err(EngineError::invalid(
            format!("volume {name}"),
            format!(
                "volume is in use by container(s) {}; remove them first",
                used.iter()
                    .map(|c| &c[..12.min(c.len())])
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    db.write(|tx| {
        tx.execute("DELETE FROM container_volumes WHERE volume = ?1", [name])?;
        tx.execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok(())
    })?;
    let dir = volumes_dir.join(&v.name);
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx(|| format!("removing {}", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Removes unused volumes: anonymous ones, or all with `all` (Docker 23's rule).
/// Returns the names and the bytes freed.
pub fn prune(db: &Db, volumes_dir: &Path, all: bool) -> Result<(Vec<String>, u64)> {
    let mut removed = Vec::new();
    let mut freed = 0;
    for v in list(db, volumes_dir)? {
        if (!all && !v.anonymous) || !users(db, &v.name)?.is_empty() {
            continue;
        }
        let size = dir_size(&v.mountpoint);
        remove(db, volumes_dir, &v.name, false)?;
        freed += size;
        removed.push(v.name);
    }
    Ok((removed, freed))
}

pub fn dir_size(p: &Path) -> u64 {
    let Ok(md) = fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    fs::read_dir(p)
        .map(|rd| rd.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Copies the image's content at the mount point into an empty new volume.
pub fn populate(volume_data: &Path, source: &Path) -> Result<()> {
    let empty = fs::read_dir(volume_data)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    if !empty {
        return Ok(());
    }
    let Ok(md) = fs::symlink_metadata(source) else {
        return Ok(());
    };
    if !md.is_dir() {
        return Ok(());
    }
    crate::fscopy::copy_tree(source, volume_data, crate::fscopy::Owner::Keep)?;
    // The volume's root takes the image directory's owner and mode.
    std::os::unix::fs::lchown(volume_data, Some(md.uid()), Some(md.gid()))
        .ctx(|| format!("chown {}", volume_data.display()))?;
    fs::set_permissions(volume_data, fs::Permissions::from_mode(md.mode() & 0o7777))
        .ctx(|| format!("setting the mode of {}", volume_data.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_names() {
        validate_name("data").unwrap();
        validate_name("my-vol_1.x").unwrap();
        assert!(validate_name("a").is_err());
        assert!(validate_name("-a").is_err());
        assert!(validate_name("a/b").is_err());
    }

    #[test]
    fn create_get_remove_prune() {
        let d = tempfile::tempdir().unwrap();
        let db = Db::open(&d.path().join("db")).unwrap();
        let vd = d.path().join("volumes");
        let v = create(&db, &vd, Some("data"), BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(v.mountpoint.is_dir());
        assert!(!v.anonymous);
        // Idempotent.
        create(&db, &vd, Some("data"), BTreeMap::new(), BTreeMap::new()).unwrap();
        let anon = create(&db, &vd, None, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert!(anon.anonymous);
        assert_eq!(list(&db, &vd).unwrap().len(), 2);
        let (gone, _) = prune(&db, &vd, false).unwrap();
        assert_eq!(gone, vec![anon.name.clone()]);
        remove(&db, &vd, "data", false).unwrap();
        assert!(matches!(
            get(&db, &vd, "data"),
            Err(EngineError::NoSuchVolume(_))
        ));
        assert!(!vd.join("data").exists());
    }

    #[test]
    fn populate_copies_once_with_modes() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "x").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        let vol = d.path().join("vol");
        fs::create_dir(&vol).unwrap();
        populate(&vol, &src).unwrap();
        assert_eq!(fs::read_to_string(vol.join("sub/f")).unwrap(), "x");
        assert_eq!(
            fs::metadata(vol.join("sub/f")).unwrap().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_link(vol.join("l")).unwrap(), Path::new("sub/f"));
        fs::write(src.join("new"), "y").unwrap();
        populate(&vol, &src).unwrap();
        assert!(!vol.join("new").exists());
    }
}
