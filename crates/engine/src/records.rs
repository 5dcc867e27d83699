//! Container rows in the metadata database: insert, find by name, id or id prefix,
//! list, update and delete. Names are unique through the table's UNIQUE constraint,
//! so two processes creating the same name at once cannot both win.

use berth_store::Db;
use rusqlite::{params, OptionalExtension, Row};

use crate::error::{EngineError, Result};
use crate::model::Settings;
use crate::state::ContainerState;

#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    /// The image as the user named it.
    pub image: String,
    pub created: String,
    pub settings: Settings,
    pub state: ContainerState,
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

const COLUMNS: &str = "id, name, image_id, image, created, config, state";

fn from_row(row: &Row<'_>) -> rusqlite::Result<(Container, String, String)> {
    Ok((
        Container {
            id: row.get(0)?,
            name: row.get(1)?,
            image_id: row.get(2)?,
            image: row.get(3)?,
            created: row.get(4)?,
            settings: Settings::default(),
            state: ContainerState::default(),
        },
        row.get(5)?,
        row.get(6)?,
    ))
}

fn decode((mut c, settings, state): (Container, String, String)) -> Result<Container> {
    c.settings = serde_json::from_str(&settings).map_err(|e| EngineError::Json {
        what: format!("settings of container {}", c.short_id()),
        why: e.to_string(),
    })?;
    c.state = serde_json::from_str(&state).map_err(|e| EngineError::Json {
        what: format!("state of container {}", c.short_id()),
        why: e.to_string(),
    })?;
    Ok(c)
}

fn json<T: serde::Serialize>(v: &T) -> String {
    // Our own plain structs with string keys: serialising cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn name_conflict(db: &Db, name: &str) -> Result<EngineError> {
    let id: Option<String> = db
        .conn()
        .query_row("SELECT id FROM containers WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(EngineError::NameInUse {
        name: name.to_string(),
        id: id.unwrap_or_default(),
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

pub fn insert(db: &Db, c: &Container) -> Result<()> {
    let res = db.write(|tx| {
        tx.execute(
            &format!("INSERT INTO containers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
            params![
                c.id,
                c.name,
                c.image_id,
                c.image,
                c.created,
                json(&c.settings),
                json(&c.state)
            ],
        )?;
        for v in &c.settings.volume_mounts {
            tx.execute(
                "INSERT OR IGNORE INTO container_volumes (container_id, volume) VALUES (?1, ?2)",
                params![c.id, v.name],
            )?;
        }
        Ok(())
    });
    match res {
        Err(berth_store::StoreError::Sqlite(source)) if is_unique_violation(&source) => {
            Err(name_conflict(db, &c.name)?)
        }
        r => Ok(r?),
    }
}

/// Finds a container by exact name (with or without Docker's leading `/`), full id or
/// unique id prefix.
pub fn find(db: &Db, key: &str) -> Result<Container> {
    let name = key.strip_prefix('/').unwrap_or(key);
    let conn = db.conn();
    let q = format!("SELECT {COLUMNS} FROM containers WHERE name = ?1 OR id = ?1");
    if let Some(row) = conn.query_row(&q, [name], from_row).optional()? {
        return decode(row);
    }
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_hexdigit()) {
        let q = format!("SELECT {COLUMNS} FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2");
        let hi = format!("{}g", key.to_ascii_lowercase());
        let mut stmt = conn.prepare(&q)?;
        let rows = stmt
            .query_map(params![key.to_ascii_lowercase(), hi], from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        match rows.len() {
            0 => {}
            1 => return decode(rows.into_iter().next().expect("one row")),
            n => {
                return Err(EngineError::Ambiguous {
                    name: key.to_string(),
                    count: n,
                })
            }
        }
    }
    Err(EngineError::NoSuchContainer(key.to_string()))
}

/// Whether any container was created with `--network container:ID` of this one.
/// Asked at every stop of a bridged container: SQLite looks in the stored settings
/// rather than every row being decoded here.
pub fn network_joined(db: &Db, id: &str) -> Result<bool> {
    let n: i64 = db.conn().query_row(
        "SELECT count(*) FROM containers
         WHERE json_extract(config, '$.HostConfig.NetworkMode') = ?1",
        [format!("container:{id}")],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

pub fn list(db: &Db) -> Result<Vec<Container>> {
    let mut stmt = db.conn().prepare(&format!(
        "SELECT {COLUMNS} FROM containers ORDER BY created DESC"
    ))?;
    let rows = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(decode).collect()
}

pub fn update_state(db: &Db, id: &str, state: &ContainerState) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "UPDATE containers SET state = ?2 WHERE id = ?1",
            params![id, json(state)],
        )?;
        Ok(())
    })?;
    Ok(())
}

pub fn update_settings(db: &Db, id: &str, settings: &Settings) -> Result<()> {
    db.write(|tx| {
        tx.execute(
            "UPDATE containers SET config = ?2 WHERE id = ?1",
            params![id, json(settings)],
        )?;
        Ok(())
    })?;
    Ok(())
}

pub fn rename(db: &Db, id: &str, new_name: &str) -> Result<()> {
    let res = db.write(|tx| {
        tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, new_name],
        )?;
        Ok(())
    });
    match res {
        Err(berth_store::StoreError::Sqlite(source)) if is_unique_violation(&source) => {
            Err(name_conflict(db, new_name)?)
        }
        r => Ok(r?),
    }
}

pub fn delete(db: &Db, id: &str) -> Result<()> {
    db.write(|tx| {
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    })?;
    Ok(())
}

/// Image ids some container uses (an image in use cannot be removed).
pub fn images_in_use(db: &Db) -> Result<Vec<String>> {
    let mut stmt = db
        .conn()
        .prepare("SELECT DISTINCT image_id FROM containers")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}
