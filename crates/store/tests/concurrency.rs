//! Many `berth` processes on one store at once: every write transaction must
//! succeed (busy_timeout + BEGIN IMMEDIATE), nothing lost, nothing corrupted.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_store::Store;
use common::{child, child_root, role, wait_for};

const TEST: &str = "twenty_processes_write_concurrently";
const PROCS: usize = 20;
const TXS: usize = 50;

fn worker() {
    let root = child_root();
    let id: usize = std::env::var("WORKER").unwrap().parse().unwrap();
    let go = PathBuf::from(std::env::var_os("GO").unwrap());
    // Start together, so that even creating the database is contended.
    wait_for("go signal", Duration::from_secs(120), || go.exists());
    let store = Store::open(&root).unwrap();
    let db = store.db();
    for j in 0..TXS {
        let img = format!("img-{id}-{j}");
        db.write(|tx| {
            // Read before writing inside the same transaction: the pattern
            // that deadlocks with deferred transactions.
            let mine: i64 = tx.query_row(
                "SELECT count(*) FROM images WHERE id LIKE ?1",
                [format!("img-{id}-%")],
                |r| r.get(0),
            )?;
            assert_eq!(mine as usize, j);
            tx.execute(
                "INSERT INTO images (id, config_digest, added, size) VALUES (?1, 'sha256:x', 'now', ?2)",
                rusqlite::params![img, j as i64],
            )?;
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES (?1, ?2)",
                [format!("worker{id}/img:{j}"), img.clone()],
            )?;
            Ok(())
        })
        .unwrap_or_else(|e| panic!("worker {id} tx {j}: {e}"));
        let tagged: String = db
            .conn()
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1",
                [format!("worker{id}/img:{j}")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tagged, img);
    }
}

#[test]
fn twenty_processes_write_concurrently() {
    if role().as_deref() == Some("db-worker") {
        return worker();
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    let go = dir.path().join("go");
    let children: Vec<_> = (0..PROCS)
        .map(|i| {
            child(TEST, "db-worker", &root)
                .env("WORKER", i.to_string())
                .env("GO", &go)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    std::fs::write(&go, b"").unwrap();
    let mut failures = Vec::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "worker {i}: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let store = Store::open(&root).unwrap();
    let conn = store.db().conn();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("images"), (PROCS * TXS) as i64);
    assert_eq!(count("tags"), (PROCS * TXS) as i64);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let fk_violations = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(fk_violations, 0);
    println!(
        "{PROCS} processes x {TXS} write transactions: {} rows each in images and tags, \
         integrity_check ok, {:.1?}",
        count("images"),
        start.elapsed()
    );
}
