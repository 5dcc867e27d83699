//! A writer SIGKILLed in the middle of a blob must leave no wrong blob behind,
//! and its temp file must be cleaned by the next `Store::open` while a live
//! writer's temp file is kept.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_store::{Digest, Store};
use common::{child, child_root, role, wait_for, KillOnDrop};
use rustix::process::{kill_process, Pid, Signal};

const TEST: &str = "killed_writer_leaves_no_wrong_blob_and_temp_is_cleaned";
const SMALL_BLOBS: usize = 3;
const CHUNK: usize = 64 * 1024;

/// Child role: stores a few small blobs, then streams a big one slowly
/// (about 64 MiB over ~50 s), far longer than the parent waits to kill it.
fn slow_writer() {
    let store = Store::open(&child_root()).unwrap();
    for i in 0..SMALL_BLOBS {
        store.blobs().put(format!("small {i}").as_bytes()).unwrap();
    }
    let mut w = store.blobs().writer().unwrap();
    let mut chunk = vec![0u8; CHUNK];
    for i in 0..1024u32 {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (i as usize).wrapping_mul(31).wrapping_add(j) as u8;
        }
        w.write_all(&chunk).unwrap();
        w.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    w.commit(None).unwrap();
}

/// The temp file of writer process `pid`, once it holds at least `min` bytes.
fn temp_of(root: &Path, pid: u32, min: u64) -> Option<PathBuf> {
    let prefix = format!("blob-{pid}-");
    fs::read_dir(root.join("tmp"))
        .ok()?
        .flatten()
        .find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let len = e.metadata().ok()?.len();
            (name.starts_with(&prefix) && len >= min).then(|| e.path())
        })
}

fn assert_blobs_all_correct(root: &Path) -> usize {
    let mut n = 0;
    for e in fs::read_dir(root.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let named = Digest::parse(&format!("sha256:{name}"))
            .unwrap_or_else(|_| panic!("non-digest file {name} in blobs/sha256"));
        let actual = Digest::of_bytes(&fs::read(e.path()).unwrap());
        assert_eq!(actual, named, "blob content does not match its name");
        n += 1;
    }
    n
}

#[test]
fn killed_writer_leaves_no_wrong_blob_and_temp_is_cleaned() {
    if role().as_deref() == Some("slow-writer") {
        return slow_writer();
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    Store::open(&root).unwrap();

    let mut victim = KillOnDrop(Some(child(TEST, "slow-writer", &root).spawn().unwrap()));
    let survivor = KillOnDrop(Some(child(TEST, "slow-writer", &root).spawn().unwrap()));
    let (vpid, spid) = (victim.pid(), survivor.pid());

    // Mid-write: the big blob's temp file has real content in it.
    wait_for("victim's big temp file", Duration::from_secs(60), || {
        assert!(
            victim.child().try_wait().unwrap().is_none(),
            "victim exited early"
        );
        temp_of(&root, vpid, 1 << 20).is_some()
    });
    wait_for("survivor's temp file", Duration::from_secs(60), || {
        temp_of(&root, spid, 1).is_some()
    });

    let pid = Pid::from_raw(vpid as i32).unwrap();
    kill_process(pid, Signal::KILL).unwrap();
    let status = victim.0.take().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");

    let dead_temp = temp_of(&root, vpid, 0).expect("killed writer's temp file");
    let dead_len = fs::metadata(&dead_temp).unwrap().len();
    let live_temp = temp_of(&root, spid, 0).expect("live writer's temp file");

    // Only complete, correct blobs: the small ones both writers stored.
    assert_eq!(assert_blobs_all_correct(&root), SMALL_BLOBS);

    let store = Store::open(&root).unwrap();
    assert!(
        !dead_temp.exists(),
        "dead writer's temp file was not cleaned"
    );
    assert!(live_temp.exists(), "live writer's temp file was removed");
    assert_eq!(store.blobs().list().unwrap().len(), SMALL_BLOBS);
    println!(
        "killed writer pid {vpid} after {dead_len} bytes; its temp file was cleaned, \
         live writer pid {spid} kept its temp file"
    );

    // The survivor keeps writing into its (still linked) temp file.
    let before = fs::metadata(&live_temp).unwrap().len();
    wait_for("survivor to keep writing", Duration::from_secs(30), || {
        fs::metadata(&live_temp).unwrap().len() > before
    });
    drop(survivor);
    Store::open(&root).unwrap();
    assert!(!live_temp.exists());
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
}
