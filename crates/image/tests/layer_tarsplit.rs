//! tar-split round trips: extract with a tar-split, drop the tar, rebuild
//! it byte for byte from the directory.

mod layer_util;

use std::fs;
use std::process::Command;

use berth_image::layer::{self, ExtractOptions, LayerError};
use layer_util::{opts, root_or_skip, sha256, Sandbox, Tar, E};
use tar::EntryType;

fn round_trip(tar: &[u8]) -> Sandbox {
    let sb = Sandbox::new();
    let split = sb.path().join("outside/layer.tar-split");
    let o = ExtractOptions {
        tar_split: Some(split.clone()),
        ..opts()
    };
    let out = layer::extract(tar, &sb.dest(), &o).unwrap();
    assert_eq!(out.diff_id, sha256(tar));
    let mut rebuilt = Vec::new();
    let n = layer::reassemble(&split, &sb.dest(), &mut rebuilt).unwrap();
    assert_eq!(n as usize, tar.len());
    assert!(rebuilt == tar, "reassembled tar differs");
    let meta = fs::metadata(&split).unwrap().len();
    eprintln!("tar {} bytes -> tar-split {} bytes", tar.len(), meta);
    fs::remove_file(split).unwrap();
    sb
}

#[test]
fn varied_tar_is_rebuilt_byte_exact() {
    let long = format!("{}/{}", "l".repeat(120), "n".repeat(140));
    let mut t = Tar::new();
    t.dir("d/");
    t.file("d/a", b"alpha");
    t.file("d/empty", b"");
    t.file(&long, &vec![9u8; 70_000]);
    t.gnu_long_file(&format!("{}/{}", "g".repeat(80), "h".repeat(70)), b"gnu");
    t.hardlink("d/a-link", "d/a");
    t.symlink("d/sym", "/abs/target");
    let mut x = E::new("d/xattr", EntryType::Regular);
    x.content = b"with xattrs";
    x.pax = vec![("SCHILY.xattr.user.k", b"v")];
    t.add(x);
    // Non-regular entry with content: kept inline.
    let mut w = E::new("d/.wh.old", EntryType::Regular);
    w.content = b"whiteouts normally have no content";
    t.add(w);
    // Same path twice: the first content must still be reproducible.
    t.file("dup", b"first version");
    t.file("dup", b"second");
    t.dir("gone/");
    t.file("gone/f", b"replaced by a file below");
    t.file("gone", b"now a file");
    // Trailing zero blocks beyond two and junk after them.
    let mut tar = t.finish(5);
    tar.extend_from_slice(b"trailing junk");
    round_trip(&tar);
}

#[test]
fn modified_layer_dir_is_detected() {
    let mut t = Tar::new();
    t.file("f", b"hello");
    let tar = t.finish(2);
    let sb = Sandbox::new();
    let split = sb.path().join("outside/s");
    let o = ExtractOptions {
        tar_split: Some(split.clone()),
        ..opts()
    };
    layer::extract(&tar[..], &sb.dest(), &o).unwrap();
    fs::write(sb.dest().join("f"), b"HELLO").unwrap();
    let e = layer::reassemble(&split, &sb.dest(), &mut Vec::new()).unwrap_err();
    assert!(matches!(e, LayerError::TarSplit { .. }), "{e}");
    fs::write(sb.dest().join("f"), b"hi").unwrap();
    let e = layer::reassemble(&split, &sb.dest(), &mut Vec::new()).unwrap_err();
    assert!(matches!(e, LayerError::SizeMismatch { .. }), "{e}");
    fs::remove_file(&split).unwrap();
}

#[test]
fn real_rootfs_tar_round_trip() {
    if !root_or_skip("real_rootfs_tar_round_trip") {
        return;
    }
    // GNU tar of real system directories: long names, hard links, symlinks,
    // its own padding to a 10 KiB record.
    let out = Command::new("tar")
        .args([
            "-C",
            "/",
            "--xattrs",
            "-cf",
            "-",
            "etc",
            "bin/busybox",
            "usr/share/zoneinfo",
        ])
        .output()
        .unwrap();
    assert!(
        !out.stdout.is_empty(),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sb = round_trip(&out.stdout);
    assert!(sb.dest().join("etc").is_dir());
}
