//! Schema migrations, recorded in `PRAGMA user_version`.
//!
//! Each migration runs in its own `BEGIN IMMEDIATE` transaction together with
//! the `user_version` bump, and re-reads the version once it holds the write
//! lock: when many `berth` processes open a fresh store at once, exactly one
//! applies each step and the others see it done.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::StoreError;

/// Append-only: never edit a released entry, add a new version instead.
pub(crate) const MIGRATIONS: &[(u32, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
];

/// v7: manifest lists (OCI image indexes) built locally with `berth manifest`. A list
/// has one name, canonical like a tag (`registry/repo:tag`), and its own namespace:
/// the commands keep a list's name from also being an image tag.
///
/// An entry names its image by id without a foreign key, as a container does: an
/// image removed while a list lists it makes that list's push fail with a message
/// naming it, where a cascade would silently drop a platform and a restriction
/// would make `rmi` fail on a list the user may not remember. The entry also records
/// the image manifest the list points at (digest, media type, size: what a push sends
/// for that image) and the platform and annotations of its index descriptor, as JSON
/// for the open-ended parts (`os.features`, annotations).
const V7: &str = "
CREATE TABLE manifest_lists (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created     TEXT NOT NULL,
    annotations TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE manifest_list_entries (
    list_id         TEXT NOT NULL REFERENCES manifest_lists(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    image_id        TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    media_type      TEXT NOT NULL,
    size            INTEGER NOT NULL,
    os              TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    variant         TEXT,
    os_version      TEXT,
    os_features     TEXT NOT NULL DEFAULT '[]',
    annotations     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (list_id, position),
    UNIQUE (list_id, image_id)
);
CREATE INDEX manifest_list_entries_image ON manifest_list_entries(image_id);
";

/// v8: IPv6 on bridge networks. A
/// network created with `--ipv6` has a v6 subnet and gateway (empty: IPv4 only); an
/// allocation on it also holds a v6 address (NULL otherwise), kept apart from every
/// other on the network by a unique index as the v4 one is by `UNIQUE(network_id, ip)`
/// (SQLite lets any number of rows share NULL there).
const V8: &str = "
ALTER TABLE networks ADD COLUMN subnet6 TEXT NOT NULL DEFAULT '';
ALTER TABLE networks ADD COLUMN gateway6 TEXT NOT NULL DEFAULT '';
ALTER TABLE network_allocations ADD COLUMN ip6 TEXT;
CREATE UNIQUE INDEX network_allocations_ip6 ON network_allocations(network_id, ip6);
";

/// v5: several networks per container. An allocation records the interface it
/// became in the container (`eth0`, `eth1`, ...: `network connect` adds one to a
/// running container, `disconnect` removes exactly that one) and the names the
/// embedded DNS settings of that endpoint as JSON: the names it answers for it on
/// that network (container name, aliases, short id) and the container's own
/// upstream servers (`--dns`).
/// A network may restrict automatic addresses to a sub-range (`--ip-range`).
const V5: &str = "
ALTER TABLE networks ADD COLUMN ip_range TEXT NOT NULL DEFAULT '';
ALTER TABLE network_allocations ADD COLUMN ifname TEXT NOT NULL DEFAULT 'eth0';
ALTER TABLE network_allocations ADD COLUMN dns TEXT NOT NULL DEFAULT '{}';
";

/// v6: the compressed blob a layer arrived as (or was last pushed as), kept in the
/// layer's directory so `push` can upload those exact bytes instead of rebuilding and
/// recompressing the tar. NULL when the store keeps no blob for the layer.
const V6: &str = "
ALTER TABLE layers ADD COLUMN blob_digest TEXT;
ALTER TABLE layers ADD COLUMN blob_size INTEGER;
ALTER TABLE layers ADD COLUMN blob_media_type TEXT;
";

/// v4: bridge networks and their address allocations. An allocation names its
/// container without a foreign key, like a container names its image: the engine
/// releases it when the container stops, and `UNIQUE(network_id, ip)` is what keeps
/// two concurrent allocations apart. A network cannot be deleted while it has
/// allocations (no cascade: that would hide a live veth's address).
const V4: &str = "
CREATE TABLE networks (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    driver   TEXT NOT NULL,
    subnet   TEXT NOT NULL,
    gateway  TEXT NOT NULL,
    bridge   TEXT NOT NULL UNIQUE,
    internal INTEGER NOT NULL DEFAULT 0,
    labels   TEXT NOT NULL,
    options  TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE TABLE network_allocations (
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    ip           TEXT NOT NULL,
    mac          TEXT NOT NULL,
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
);
CREATE INDEX network_allocations_container ON network_allocations(container_id);
";

/// v3: containers and volumes. A container's image is not a foreign key: removing an
/// image a container uses is refused by the image commands (Docker's rule), and `-f`
/// untags it without deleting it, so a cascade would only ever do harm.
const V3: &str = "
CREATE TABLE containers (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    image    TEXT NOT NULL,
    created  TEXT NOT NULL,
    config   TEXT NOT NULL,
    state    TEXT NOT NULL
);
CREATE INDEX containers_image ON containers(image_id);
CREATE TABLE volumes (
    name      TEXT PRIMARY KEY,
    driver    TEXT NOT NULL,
    created   TEXT NOT NULL,
    labels    TEXT NOT NULL,
    options   TEXT NOT NULL,
    anonymous INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE container_volumes (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    volume       TEXT NOT NULL REFERENCES volumes(name),
    PRIMARY KEY (container_id, volume)
);
CREATE INDEX container_volumes_volume ON container_volumes(volume);
";

/// v2: the length of a layer's uncompressed tar, so `save` can write its tar header
/// without rebuilding the layer twice.
const V2: &str = "ALTER TABLE layers ADD COLUMN tar_size INTEGER;";

const V1: &str = "
CREATE TABLE layers (
    chain_id TEXT PRIMARY KEY,
    diff_id  TEXT NOT NULL,
    parent   TEXT REFERENCES layers(chain_id),
    dir      TEXT NOT NULL UNIQUE,
    size     INTEGER NOT NULL,
    created  TEXT NOT NULL
);
CREATE TABLE images (
    id              TEXT PRIMARY KEY,
    config_digest   TEXT NOT NULL,
    manifest_digest TEXT,
    created         TEXT,
    added           TEXT NOT NULL,
    size            INTEGER NOT NULL,
    os              TEXT,
    architecture    TEXT
);
CREATE TABLE image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, position)
);
CREATE TABLE tags (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE TABLE repo_digests (
    repo     TEXT NOT NULL,
    digest   TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    PRIMARY KEY (repo, digest)
);
CREATE TABLE image_parents (
    image_id  TEXT PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL
);
CREATE INDEX image_layers_chain ON image_layers(chain_id);
-- Without an index on a foreign key's child column, every delete of the
-- parent row (image rm, layer GC) scans the whole child table.
CREATE INDEX layers_parent ON layers(parent);
CREATE INDEX tags_image ON tags(image_id);
CREATE INDEX repo_digests_image ON repo_digests(image_id);
CREATE INDEX image_parents_parent ON image_parents(parent_id);
";

pub(crate) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn check_not_newer(path: &Path, found: u32) -> Result<(), StoreError> {
    if found > latest() {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: latest(),
        });
    }
    Ok(())
}

pub(crate) fn refuse_newer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn).map_err(|e| StoreError::db(path, "read schema version", e))?;
    check_not_newer(path, found)
}

pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let current = user_version(conn).map_err(|e| StoreError::db(path, "read schema version", e))?;
    check_not_newer(path, current)?;
    for &(version, sql) in MIGRATIONS {
        if version <= current {
            continue;
        }
        let ctx = |what: &str| format!("migration to schema version {version}: {what}");
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(|e| StoreError::db(path, ctx("begin"), e))?;
        let now = user_version(&tx).map_err(|e| StoreError::db(path, ctx("read version"), e))?;
        check_not_newer(path, now)?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|e| StoreError::db(path, ctx("apply"), e))?;
        tx.pragma_update(None, "user_version", version)
            .map_err(|e| StoreError::db(path, ctx("record version"), e))?;
        tx.commit()
            .map_err(|e| StoreError::db(path, ctx("commit"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_strictly_increasing_from_one() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v as usize, i + 1);
        }
    }

    /// A v6 store (one that predates manifest lists) gains the v7 tables without
    /// losing its rows, and the entries cascade with their list.
    #[test]
    fn v6_store_migrates_to_manifest_lists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let conn = Connection::open(&path).unwrap();
        for &(v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v <= 6) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", v).unwrap();
        }
        conn.execute(
            "INSERT INTO images (id, config_digest, added, size) VALUES ('i', 'c', 'now', 1)",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate(&conn, &path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), MIGRATIONS.len() as u32);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM images", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        conn.execute(
            "INSERT INTO manifest_lists (id, name, created) VALUES ('l', 'docker.io/x/y:1', 'now')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO manifest_list_entries (list_id, position, image_id, manifest_digest, media_type, size, os, architecture)
             VALUES ('l', 0, 'i', 'sha256:m', 'application/vnd.oci.image.manifest.v1+json', 10, 'linux', 'amd64')",
            [],
        )
        .unwrap();
        let dup = conn.execute(
            "INSERT INTO manifest_list_entries (list_id, position, image_id, manifest_digest, media_type, size, os, architecture)
             VALUES ('l', 1, 'i', 'sha256:m', 'application/vnd.oci.image.manifest.v1+json', 10, 'linux', 'amd64')",
            [],
        );
        assert!(dup.is_err(), "an image is listed once per list");
        conn.execute("DELETE FROM manifest_lists WHERE id = 'l'", [])
            .unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM manifest_list_entries", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 0, "entries go with their list");
    }
}
