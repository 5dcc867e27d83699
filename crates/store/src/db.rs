use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::StoreError;
use crate::migrations;

/// How long a process waits for another one's write transaction before giving
/// up. Generous because writers are short, and failing a `berth pull` because
/// another `berth` was busy would be worse than waiting.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The one metadata database, shared by all `berth` processes.
pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let conn = Connection::open(path).map_err(|e| StoreError::db(path, "open", e))?;
        let set = |what: &str, e| StoreError::db(path, format!("set {what}"), e);
        // First, so every later statement waits for other processes' locks
        // instead of failing.
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| set("busy_timeout", e))?;
        // Before changing anything: a newer berth's database is not ours to
        // touch, not even its journal mode.
        migrations::refuse_newer(&conn, path)?;
        // WAL lets readers proceed while one process writes, which is what
        // many concurrent `berth` commands need.
        let mode = enable_wal(&conn).map_err(|e| set("journal_mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::WalUnavailable {
                path: path.to_owned(),
                mode,
            });
        }
        // NORMAL in WAL mode never corrupts the database; a power loss can
        // only drop the last commits. That is safe here because blobs are
        // fsynced before any row references them, so a lost commit leaves at
        // worst an unreferenced blob, never a row pointing at nothing. FULL
        // would cost an fsync per transaction for no integrity gain.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| set("synchronous", e))?;
        // Off by default in SQLite; the schema relies on cascades.
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(|e| set("foreign_keys", e))?;
        migrations::migrate(&conn, path)?;
        Ok(Db {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// For reads and for statements that need no transaction.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in a write transaction: committed if it returns `Ok`, rolled
    /// back otherwise.
    ///
    /// `BEGIN IMMEDIATE` takes the write lock up front (waiting up to the busy
    /// timeout). A deferred transaction that reads first and writes later can
    /// fail with SQLITE_BUSY at the upgrade, without waiting, whenever another
    /// process wrote in between.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| StoreError::db(&self.path, "begin write transaction", e))?;
        match f(&tx) {
            Ok(v) => {
                tx.commit()
                    .map_err(|e| StoreError::db(&self.path, "commit", e))?;
                Ok(v)
            }
            Err(e) => {
                // The caller's error is the one worth reporting; a failed
                // rollback is also undone when the transaction is dropped.
                let _ = tx.rollback();
                Err(e)
            }
        }
    }

    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrations::user_version(&self.conn)
            .map_err(|e| StoreError::db(&self.path, "read schema version", e))
    }

    /// The newest schema version this build knows.
    pub fn latest_schema_version() -> u32 {
        migrations::latest()
    }
}

/// Switches to WAL, retrying while another process holds a lock.
///
/// The mode change needs an exclusive lock and SQLite reports SQLITE_BUSY for
/// it without calling the busy handler, so the busy timeout does not cover
/// it: seen when many processes open a brand-new store at once. The mode is
/// persistent, so once any process has switched, the others read "wal"
/// without needing the lock.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_db_is_at_v1_with_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("berth.db")).unwrap();
        assert_eq!(db.schema_version().unwrap(), Db::latest_schema_version());
        let mode: String = db
            .conn()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = db
            .conn()
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn reopen_is_idempotent_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        let db = Db::open(&path).unwrap();
        db.write(|tx| {
            tx.execute(
                "INSERT INTO images (id, config_digest, added, size) VALUES ('i', 'c', 'now', 1)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        drop(db);
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), Db::latest_schema_version());
        let n: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM images", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn newer_db_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berth.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        let err = Db::open(&path).err().expect("must refuse a newer schema");
        assert!(matches!(err, StoreError::SchemaTooNew { found: 999, .. }));
        assert!(err.to_string().contains("newer berth"), "{err}");
        let v: u32 = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 999, "a refused DB must not be touched");
        let mode: String = Connection::open(&path)
            .unwrap()
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete", "a refused DB must keep its journal mode");
    }

    #[test]
    fn write_rolls_back_on_error_and_cascades() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("berth.db")).unwrap();
        let r: Result<(), _> = db.write(|tx| {
            tx.execute(
                "INSERT INTO images (id, config_digest, added, size) VALUES ('x', 'c', 'now', 1)",
                [],
            )?;
            Err(StoreError::InvalidDigest {
                input: "x".into(),
                reason: "test",
            })
        });
        assert!(r.is_err());
        let n: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM images", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);

        db.write(|tx| {
            tx.execute(
                "INSERT INTO images (id, config_digest, added, size) VALUES ('y', 'c', 'now', 1)",
                [],
            )?;
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES ('t:latest', 'y')",
                [],
            )?;
            tx.execute("DELETE FROM images WHERE id = 'y'", [])?;
            Ok(())
        })
        .unwrap();
        let n: i64 = db
            .conn()
            .query_row("SELECT count(*) FROM tags", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "ON DELETE CASCADE needs foreign_keys=ON");

        let err = db
            .write(|tx| {
                tx.execute(
                    "INSERT INTO tags (name, image_id) VALUES ('dangling', 'nope')",
                    [],
                )?;
                Ok(())
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
    }
}
