//! Whiteouts and opaque directories in both modes.

mod layer_util;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_image::layer::{self, ExtractOptions, WhiteoutMode};
use layer_util::{opts, root_or_skip, Sandbox, Tar};

fn whiteout_layer() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("etc/");
    t.file("etc/.wh.motd", b"");
    t.dir("opt/");
    t.file("opt/.wh..wh..opq", b"");
    t.file("opt/new", b"new");
    t.file(".wh.gone", b"");
    t.file("usr/.wh..wh.plnk", b""); // AUFS bookkeeping, ignored
    t.finish(2)
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 64];
    rustix::fs::lgetxattr(p, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

#[test]
fn overlay_mode_makes_overlay_whiteouts() {
    if !root_or_skip("overlay_mode_makes_overlay_whiteouts") {
        return;
    }
    let sb = Sandbox::new();
    let out = layer::extract(&whiteout_layer()[..], &sb.dest(), &opts()).unwrap();
    assert_eq!(out.whiteouts, 3);
    let d = sb.dest();
    for w in ["etc/motd", "gone"] {
        let m = fs::symlink_metadata(d.join(w)).unwrap();
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0);
    }
    assert_eq!(
        xattr(&d.join("opt"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(fs::read(d.join("opt/new")).unwrap(), b"new");
    assert!(!d.join("opt/.wh..wh..opq").exists());
    assert!(!d.join("usr/.wh..wh.plnk").exists());
    sb.assert_nothing_outside();
}

#[test]
fn overlay_mode_rootless_uses_user_xattrs_when_mknod_is_refused() {
    // As root mknod works, so this exercises only the opaque xattr name;
    // the mknod fallback is covered when run unprivileged.
    let sb = Sandbox::new();
    let o = ExtractOptions {
        rootless: true,
        ..opts()
    };
    layer::extract(&whiteout_layer()[..], &sb.dest(), &o).unwrap();
    let d = sb.dest();
    assert_eq!(
        xattr(&d.join("opt"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    let m = fs::symlink_metadata(d.join("gone")).unwrap();
    let is_dev = m.file_type().is_char_device() && m.rdev() == 0;
    let is_xattr =
        m.file_type().is_file() && xattr(&d.join("gone"), "user.overlay.whiteout").is_some();
    assert!(is_dev || is_xattr);
}

#[test]
fn apply_mode_deletes_from_the_lower_copy() {
    let sb = Sandbox::new();
    let d = sb.dest();
    // What earlier layers left in the copy.
    fs::create_dir_all(d.join("etc")).unwrap();
    fs::write(d.join("etc/motd"), b"hi").unwrap();
    fs::write(d.join("etc/keep"), b"k").unwrap();
    fs::create_dir_all(d.join("opt/old/deep")).unwrap();
    fs::write(d.join("opt/old/deep/f"), b"f").unwrap();
    fs::write(d.join("opt/old2"), b"f").unwrap();
    fs::create_dir_all(d.join("gone/sub")).unwrap();
    let o = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..opts()
    };
    layer::extract(&whiteout_layer()[..], &d, &o).unwrap();
    assert!(!d.join("etc/motd").exists());
    assert!(d.join("etc/keep").exists());
    assert!(!d.join("gone").exists());
    let mut opt: Vec<_> = fs::read_dir(d.join("opt"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    opt.sort();
    assert_eq!(opt, ["new"]);
    sb.assert_nothing_outside();
}

#[test]
fn apply_mode_keeps_same_layer_entries() {
    let sb = Sandbox::new();
    let d = sb.dest();
    fs::create_dir_all(d.join("dir")).unwrap();
    fs::write(d.join("dir/lower"), b"l").unwrap();
    let mut t = Tar::new();
    t.file("dir/mine", b"m");
    t.file("dir/.wh..wh..opq", b""); // after a same-layer entry
    t.file("dir/.wh.mine", b""); // must not remove this layer's file
    let o = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..opts()
    };
    layer::extract(&t.finish(2)[..], &d, &o).unwrap();
    assert!(!d.join("dir/lower").exists());
    assert_eq!(fs::read(d.join("dir/mine")).unwrap(), b"m");
}
