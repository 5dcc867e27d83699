mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use berth_store::{default_root, Digest, Store, StoreError};
use common::{child, role};

#[test]
fn open_creates_private_layout_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a/b/berth");
    let store = Store::open(&root).unwrap();
    assert_eq!(store.root(), root);
    assert_eq!(store.tmp_dir(), root.join("tmp"));
    for sub in ["", "blobs", "blobs/sha256", "layers", "snapshots", "tmp"] {
        let mode = fs::metadata(root.join(sub)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{sub}: {mode:o}");
    }
    assert!(root.join("berth.db").is_file());
    assert_eq!(
        store.db().schema_version().unwrap(),
        berth_store::Db::latest_schema_version()
    );

    let d = store.blobs().put(b"config").unwrap();
    assert_eq!(
        store.blobs().path(&d),
        root.join("blobs/sha256").join(d.hex())
    );
    store
        .db()
        .write(|tx| {
            tx.execute(
                "INSERT INTO images (id, config_digest, added, size) VALUES (?1, ?1, 'now', 6)",
                [d.as_str()],
            )?;
            Ok(())
        })
        .unwrap();
    drop(store);

    let store = Store::open(&root).unwrap();
    assert_eq!(
        store.db().schema_version().unwrap(),
        berth_store::Db::latest_schema_version()
    );
    assert_eq!(store.blobs().read(&d).unwrap(), b"config");
    let id: String = store
        .db()
        .conn()
        .query_row("SELECT id FROM images", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id.parse::<Digest>().unwrap(), d);
}

#[test]
fn store_refuses_db_from_newer_berth() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    rusqlite::Connection::open(dir.path().join("berth.db"))
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let err = Store::open(dir.path())
        .err()
        .expect("newer schema accepted");
    assert!(matches!(
        err,
        StoreError::SchemaTooNew { found: 999, supported, .. } if supported == berth_store::Db::latest_schema_version()
    ));
    let msg = err.to_string();
    assert!(msg.contains("created by a newer berth"), "{msg}");
    assert!(msg.contains("berth.db"), "{msg}");
}

/// Writers creating temp files while other handles run the open-time cleanup
/// must never lose their temp file. A stress test only: the create-to-flock
/// window that tmp::create_locked guards is too narrow to hit on demand.
#[test]
fn writers_survive_concurrent_cleanup() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    drop(Store::open(&root).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || {
                let store = Store::open(&root).unwrap();
                for i in 0..100 {
                    let data = format!("thread {t} blob {i}");
                    let mut w = store.blobs().writer().unwrap();
                    w.write_all(data.as_bytes()).unwrap();
                    let (d, n) = w.commit(None).unwrap();
                    assert_eq!(d, Digest::of_bytes(data.as_bytes()));
                    assert_eq!(n as usize, data.len());
                }
            })
        })
        .collect();
    for _ in 0..30 {
        drop(Store::open(&root).unwrap());
    }
    for w in writers {
        w.join().unwrap();
    }
    let store = Store::open(&root).unwrap();
    assert_eq!(store.blobs().list().unwrap().len(), 400);
    assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
}

/// `default_root` depends on the environment, which a test must not change
/// in its own (multi-threaded) process, so it asks a re-executed child.
#[test]
fn default_root_follows_xdg_data_home() {
    if role().as_deref() == Some("print-root") {
        println!("ROOT={}", default_root().display());
        return;
    }
    let root_of = |xdg: Option<&str>| -> PathBuf {
        let mut c = child(
            "default_root_follows_xdg_data_home",
            "print-root",
            "/".as_ref(),
        );
        c.env("HOME", "/home/someone");
        match xdg {
            Some(x) => c.env("XDG_DATA_HOME", x),
            None => c.env_remove("XDG_DATA_HOME"),
        };
        let out = c.output().unwrap();
        assert!(out.status.success());
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("ROOT=").map(|(_, r)| r))
            .unwrap();
        PathBuf::from(line)
    };
    if rustix::process::geteuid().is_root() {
        assert_eq!(root_of(Some("/data")), PathBuf::from("/var/lib/berth"));
    } else {
        assert_eq!(root_of(Some("/data")), PathBuf::from("/data/berth"));
        assert_eq!(
            root_of(Some("relative")),
            PathBuf::from("/home/someone/.local/share/berth")
        );
        assert_eq!(
            root_of(None),
            PathBuf::from("/home/someone/.local/share/berth")
        );
    }
}
