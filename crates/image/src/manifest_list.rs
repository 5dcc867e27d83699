//! Manifest lists built locally (`berth manifest`): a named OCI image index whose
//! entries are images of this store, each with the platform and annotations its
//! index descriptor carries. Every change is one transaction that checks its input
//! first, so a refused command leaves the store as it was.

use std::collections::BTreeMap;

use berth_store::{Digest, StoreError};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;

use crate::error::{ImageError, Result};
use crate::reference::ImageRef;
use crate::store::{now, ImageStore};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The platform of one entry, as an index descriptor states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPlatform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub os_version: Option<String>,
    pub os_features: Vec<String>,
}

impl ListPlatform {
    /// The platform an image's config declares (`os`, `architecture`, `variant`,
    /// `os.version`, `os.features`).
    pub fn of_config(config: &crate::config::ImageConfig) -> ListPlatform {
        let raw = &config.raw;
        let text = |k: &str| {
            raw[k]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        ListPlatform {
            os: config.os(),
            architecture: config.architecture(),
            variant: text("variant"),
            os_version: text("os.version"),
            os_features: raw["os.features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect(),
        }
    }
}

impl std::fmt::Display for ListPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One image of a list: which image, the manifest of it the index points at, and
/// the descriptor's platform and annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub image_id: String,
    /// Digest, media type and size of the image manifest (what a push sends for it).
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub platform: ListPlatform,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct ManifestList {
    pub id: String,
    /// Canonical `registry/repo:tag`.
    pub name: String,
    pub created: String,
    /// The index's own annotations.
    pub annotations: BTreeMap<String, String>,
    pub entries: Vec<ListEntry>,
}

#[derive(Serialize)]
struct IndexJson<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    manifests: Vec<DescriptorJson<'a>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct DescriptorJson<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
    digest: &'a str,
    platform: PlatformJson<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct PlatformJson<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "<[String]>::is_empty")]
    os_features: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

impl ManifestList {
    fn index(&self) -> IndexJson<'_> {
        IndexJson {
            schema_version: 2,
            media_type: OCI_INDEX,
            manifests: self
                .entries
                .iter()
                .map(|e| DescriptorJson {
                    media_type: &e.media_type,
                    size: e.size,
                    digest: &e.digest,
                    platform: PlatformJson {
                        architecture: &e.platform.architecture,
                        os: &e.platform.os,
                        os_version: e.platform.os_version.as_deref(),
                        os_features: &e.platform.os_features,
                        variant: e.platform.variant.as_deref(),
                    },
                    annotations: &e.annotations,
                })
                .collect(),
            annotations: &self.annotations,
        }
    }

    /// The OCI image index as pushed: compact JSON, so its digest is that of these
    /// exact bytes.
    pub fn index_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.index()).expect("serialising an index cannot fail")
    }

    /// The same index indented with four spaces, as `podman manifest inspect` prints.
    pub fn index_pretty(&self) -> String {
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        self.index()
            .serialize(&mut ser)
            .expect("serialising an index cannot fail");
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    /// The entry for `image`: a full image id or the digest of the entry's manifest
    /// (names and short ids are the caller's to resolve to an id first).
    pub fn entry(&self, image: &str) -> Option<&ListEntry> {
        self.entries
            .iter()
            .find(|e| e.digest == image || e.image_id == image)
    }
}

/// The canonical name a list is stored under: a tagged reference (`latest` when the
/// name has no tag). A digest cannot name a list.
pub fn list_name(name: &str) -> Result<String> {
    let r = ImageRef::parse(name)?;
    if r.digest.is_some() {
        return Err(ImageError::InvalidReference {
            reference: name.to_string(),
            why: "a manifest list is named by a tag, not a digest".into(),
        });
    }
    Ok(r.tagged().expect("a reference without digest has a tag"))
}

fn validate(entry: &ListEntry) -> Result<()> {
    let bad = |why: String| {
        Err(ImageError::Invalid {
            what: format!("manifest list entry for image {}", entry.image_id),
            why,
        })
    };
    Digest::parse(&entry.digest)?;
    Digest::parse(&entry.image_id)?;
    if entry.platform.os.is_empty() || entry.platform.architecture.is_empty() {
        return bad("its platform needs both an OS and an architecture".into());
    }
    if entry.media_type.is_empty() {
        return bad("its manifest has no media type".into());
    }
    if let Some(k) = entry.annotations.keys().find(|k| k.is_empty()) {
        return bad(format!("annotation key {k:?} is empty"));
    }
    Ok(())
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialising strings cannot fail")
}

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::from(e)
}

fn not_found(name: &str) -> ImageError {
    ImageError::ListNotFound(name.to_string())
}

fn read_list(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<Option<ManifestList>> {
    let head: Option<(String, String, String, String)> = conn
        .query_row(
            "SELECT id, name, created, annotations FROM manifest_lists WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((id, name, created, annotations)) = head else {
        return Ok(None);
    };
    let mut stmt = conn.prepare(
        "SELECT image_id, manifest_digest, media_type, size, os, architecture, variant,
                os_version, os_features, annotations
         FROM manifest_list_entries WHERE list_id = ?1 ORDER BY position",
    )?;
    let entries = stmt
        .query_map([&id], |r| {
            let features: String = r.get(8)?;
            let annotations: String = r.get(9)?;
            Ok(ListEntry {
                image_id: r.get(0)?,
                digest: r.get(1)?,
                media_type: r.get(2)?,
                size: r.get::<_, i64>(3)? as u64,
                platform: ListPlatform {
                    os: r.get(4)?,
                    architecture: r.get(5)?,
                    variant: r.get(6)?,
                    os_version: r.get(7)?,
                    // Written by this module from typed values; unreadable JSON would
                    // be a corrupt row, shown as empty rather than failing every read.
                    os_features: serde_json::from_str(&features).unwrap_or_default(),
                },
                annotations: serde_json::from_str(&annotations).unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(ManifestList {
        id,
        name,
        created,
        annotations: serde_json::from_str(&annotations).unwrap_or_default(),
        entries,
    }))
}

/// Adds `entries` to the list `list_id`, replacing the entry of an image already
/// listed (its place in the list stays).
fn upsert(tx: &Transaction, list_id: &str, entries: &[ListEntry]) -> rusqlite::Result<()> {
    for e in entries {
        let features = json_text(&e.platform.os_features);
        let annotations = json_text(&e.annotations);
        // An image already listed keeps its position; a new one goes last.
        tx.execute(
            "INSERT INTO manifest_list_entries (list_id, position, image_id, manifest_digest,
                media_type, size, os, architecture, variant, os_version, os_features, annotations)
             VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0) FROM manifest_list_entries WHERE list_id = ?1),
                ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (list_id, image_id) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                media_type = excluded.media_type, size = excluded.size, os = excluded.os,
                architecture = excluded.architecture, variant = excluded.variant,
                os_version = excluded.os_version, os_features = excluded.os_features,
                annotations = excluded.annotations",
            params![
                list_id,
                e.image_id,
                e.digest,
                e.media_type,
                e.size as i64,
                e.platform.os,
                e.platform.architecture,
                e.platform.variant,
                e.platform.os_version,
                features,
                annotations
            ],
        )?;
    }
    Ok(())
}

impl ImageStore {
    /// The list named `name` (as the user typed it), if there is one.
    pub fn manifest_list(&self, name: &str) -> Result<Option<ManifestList>> {
        let name = list_name(name)?;
        Ok(read_list(self.store().db().conn(), &name)?)
    }

    /// Every list, by name.
    pub fn manifest_lists(&self) -> Result<Vec<ManifestList>> {
        let conn = self.store().db().conn();
        let mut stmt = conn.prepare("SELECT name FROM manifest_lists ORDER BY name")?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::new();
        for n in names {
            out.extend(read_list(conn, &n)?);
        }
        Ok(out)
    }

    /// `manifest create`: a new list named `name` holding `entries`. With `amend` an
    /// existing list of that name gains the entries (and annotations) instead of the
    /// command failing. A name that tags an image is refused: `push NAME` must mean
    /// one thing.
    pub fn create_manifest_list(
        &self,
        name: &str,
        amend: bool,
        annotations: &BTreeMap<String, String>,
        entries: &[ListEntry],
    ) -> Result<ManifestList> {
        let name = list_name(name)?;
        for e in entries {
            validate(e)?;
        }
        // Refusals are decided inside the transaction (another process may create the
        // name meanwhile) but before anything is written, so committing them is a no-op.
        let refused = self.store().db().write(|tx| {
            let tagged = tx
                .query_row("SELECT 1 FROM tags WHERE name = ?1", [&name], |_| Ok(()))
                .optional()
                .map_err(sql)?
                .is_some();
            if tagged {
                return Ok(Some("it already names an image; choose another name for the manifest list, or untag the image with `berth rmi`"));
            }
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, annotations FROM manifest_lists WHERE name = ?1",
                    [&name],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql)?;
            let id = match existing {
                Some(_) if !amend => {
                    return Ok(Some(
                        "a manifest list of that name already exists; use --amend to add to it",
                    ))
                }
                Some((id, old)) => {
                    let mut merged: BTreeMap<String, String> =
                        serde_json::from_str(&old).unwrap_or_default();
                    merged.extend(annotations.clone());
                    tx.execute(
                        "UPDATE manifest_lists SET annotations = ?2 WHERE id = ?1",
                        params![id, json_text(&merged)],
                    )
                    .map_err(sql)?;
                    id
                }
                None => {
                    let created = now();
                    let id = Digest::of_bytes(
                        format!("{name}\n{created}\n{}", std::process::id()).as_bytes(),
                    )
                    .to_string()
                    .trim_start_matches("sha256:")
                    .to_string();
                    tx.execute(
                        "INSERT INTO manifest_lists (id, name, created, annotations) VALUES (?1, ?2, ?3, ?4)",
                        params![id, name, created, json_text(annotations)],
                    )
                    .map_err(sql)?;
                    id
                }
            };
            upsert(tx, &id, entries).map_err(sql)?;
            Ok(None)
        })?;
        if let Some(why) = refused {
            return Err(ImageError::NameInUse {
                name,
                why: why.to_string(),
            });
        }
        read_list(self.store().db().conn(), &name)?.ok_or_else(|| not_found(&name))
    }

    /// `manifest add` and `manifest annotate`: adds or replaces (by image id) entries
    /// of an existing list.
    pub fn put_manifest_list_entries(
        &self,
        name: &str,
        entries: &[ListEntry],
    ) -> Result<ManifestList> {
        let name = list_name(name)?;
        for e in entries {
            validate(e)?;
        }
        let found = self.store().db().write(|tx| {
            let id: Option<String> = tx
                .query_row(
                    "SELECT id FROM manifest_lists WHERE name = ?1",
                    [&name],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            let Some(id) = id else { return Ok(false) };
            upsert(tx, &id, entries).map_err(sql)?;
            Ok(true)
        })?;
        if !found {
            return Err(not_found(&name));
        }
        read_list(self.store().db().conn(), &name)?.ok_or_else(|| not_found(&name))
    }

    /// `manifest rm`: the list goes, the images it listed stay.
    pub fn remove_manifest_list(&self, name: &str) -> Result<ManifestList> {
        let name = list_name(name)?;
        let list = self.store().db().write(|tx| {
            let list = read_list(tx, &name).map_err(sql)?;
            if let Some(l) = &list {
                tx.execute("DELETE FROM manifest_lists WHERE id = ?1", [&l.id])
                    .map_err(sql)?;
            }
            Ok(list)
        })?;
        list.ok_or_else(|| not_found(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn entry(image: char, arch: &str) -> ListEntry {
        ListEntry {
            image_id: digest(image),
            // The manifest's digest: another hex letter than the image id's.
            digest: digest(match image {
                'a' => 'd',
                'b' => 'e',
                _ => 'f',
            }),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 100,
            platform: ListPlatform {
                os: "linux".into(),
                architecture: arch.into(),
                ..Default::default()
            },
            annotations: BTreeMap::new(),
        }
    }

    fn count(store: &ImageStore, table: &str) -> i64 {
        store
            .store()
            .db()
            .conn()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn create_add_annotate_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let none = BTreeMap::new();
        let l = store
            .create_manifest_list("app:1", false, &none, &[entry('a', "amd64")])
            .unwrap();
        assert_eq!(l.name, "docker.io/library/app:1");
        assert_eq!(l.entries.len(), 1);
        let again = store.create_manifest_list("app:1", false, &none, &[]);
        assert!(
            again.unwrap_err().to_string().contains("--amend"),
            "a second create without --amend is refused"
        );
        let mut arm = entry('b', "arm64");
        arm.platform.variant = Some("v8".into());
        let l = store
            .create_manifest_list("app:1", true, &none, &[arm.clone()])
            .unwrap();
        assert_eq!(l.entries.len(), 2);
        arm.annotations.insert("org.example".into(), "x".into());
        let l = store.put_manifest_list_entries("app:1", &[arm]).unwrap();
        assert_eq!(l.entries.len(), 2, "an image is listed once");
        assert_eq!(l.entries[1].annotations["org.example"], "x");
        let idx: serde_json::Value = serde_json::from_slice(&l.index_bytes()).unwrap();
        assert_eq!(idx["mediaType"], OCI_INDEX);
        assert_eq!(idx["schemaVersion"], 2);
        assert_eq!(idx["manifests"][1]["platform"]["variant"], "v8");
        assert_eq!(idx["manifests"][1]["annotations"]["org.example"], "x");
        assert!(idx["manifests"][0].get("annotations").is_none());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&l.index_pretty()).unwrap(),
            idx
        );
        let gone = store.remove_manifest_list("app:1").unwrap();
        assert_eq!(gone.entries.len(), 2);
        assert!(store.manifest_list("app:1").unwrap().is_none());
        assert_eq!(count(&store, "manifest_list_entries"), 0);
        assert!(matches!(
            store.remove_manifest_list("app:1"),
            Err(ImageError::ListNotFound(_))
        ));
    }

    #[test]
    fn bad_input_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let none = BTreeMap::new();
        let mut bad = entry('b', "");
        assert!(store
            .create_manifest_list("app:1", false, &none, &[entry('a', "amd64"), bad.clone()])
            .is_err());
        assert_eq!(count(&store, "manifest_lists"), 0);
        store
            .create_manifest_list("app:1", false, &none, &[entry('a', "amd64")])
            .unwrap();
        bad.platform.architecture = "arm64".into();
        bad.digest = "sha256:nothex".into();
        assert!(store.put_manifest_list_entries("app:1", &[bad]).is_err());
        assert!(matches!(
            store.put_manifest_list_entries("other:1", &[entry('c', "amd64")]),
            Err(ImageError::ListNotFound(_))
        ));
        assert_eq!(count(&store, "manifest_list_entries"), 1);
        assert!(store.manifest_list("app@sha256:00").is_err());
    }
}
