//! diff of an overlay upper dir made by a real overlay mount, checked by
//! applying the result to a copy of the lower dir (Apply mode) and by
//! mounting it as an extracted layer (Overlay mode).

mod layer_util;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::layer::{self, DiffOptions, ExtractOptions, WhiteoutMode};
use layer_util::{opts, root_or_skip, sha256};
use rustix::mount::{mount, unmount, MountFlags, UnmountFlags};

/// Unmounts on drop, so a failing assertion does not leave a mount behind.
struct Mounted(PathBuf);

impl Mounted {
    fn overlay(lower: &str, upper: &Path, work: &Path, at: &Path) -> Mounted {
        let o = format!(
            "lowerdir={lower},upperdir={},workdir={}",
            upper.display(),
            work.display()
        );
        let o = std::ffi::CString::new(o).unwrap();
        mount(
            "overlay",
            at,
            "overlay",
            MountFlags::empty(),
            Some(o.as_c_str()),
        )
        .expect("mount overlay");
        Mounted(at.to_path_buf())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.0, UnmountFlags::empty()) {
            eprintln!("unmount {}: {e}", self.0.display());
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, u32, Vec<u8>),
    Link(PathBuf),
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Node>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let mode = m.permissions().mode() & 0o7777;
            if m.is_dir() {
                out.insert(rel, Node::Dir(mode));
                walk(root, &p, out);
            } else if m.file_type().is_symlink() {
                out.insert(rel, Node::Link(fs::read_link(&p).unwrap()));
            } else {
                out.insert(rel, Node::File(mode, m.uid(), fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

#[test]
fn diff_of_a_real_overlay_upper() {
    if !root_or_skip("diff_of_a_real_overlay_upper") {
        return;
    }
    let tmp = tempfile::Builder::new()
        .prefix("berth-layer-diff-")
        .tempdir()
        .unwrap();
    let t = tmp.path();
    let (lower, upper, work, merged) = (
        t.join("lower"),
        t.join("upper"),
        t.join("work"),
        t.join("merged"),
    );
    for d in [&lower, &upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    fs::write(lower.join("deleted"), b"bye").unwrap();
    fs::write(lower.join("kept"), b"kept").unwrap();
    fs::create_dir_all(lower.join("opaque/sub")).unwrap();
    fs::write(lower.join("opaque/old"), b"old").unwrap();
    fs::write(lower.join("opaque/sub/deep"), b"deep").unwrap();
    fs::create_dir(lower.join("replaced")).unwrap();
    fs::write(lower.join("replaced/inner"), b"inner").unwrap();
    fs::create_dir(lower.join("modified")).unwrap();
    fs::write(lower.join("modified/f"), b"v1").unwrap();

    let long = format!("{}/{}", "l".repeat(120), "m".repeat(150));
    {
        let _m = Mounted::overlay(lower.to_str().unwrap(), &upper, &work, &merged);
        let m = &merged;
        fs::remove_file(m.join("deleted")).unwrap();
        fs::remove_dir_all(m.join("opaque")).unwrap();
        fs::create_dir(m.join("opaque")).unwrap();
        fs::write(m.join("opaque/new"), b"new").unwrap();
        fs::remove_dir_all(m.join("replaced")).unwrap();
        fs::write(m.join("replaced"), b"now a file").unwrap();
        fs::write(m.join("modified/f"), b"v2").unwrap();
        fs::write(m.join("suid"), b"#!").unwrap();
        fs::set_permissions(m.join("suid"), fs::Permissions::from_mode(0o4755)).unwrap();
        fs::hard_link(m.join("suid"), m.join("suid-link")).unwrap();
        symlink("/kept", m.join("abs-link")).unwrap();
        fs::create_dir_all(m.join(&long).parent().unwrap()).unwrap();
        fs::write(m.join(&long), b"long").unwrap();
        // Copies "kept" up with its new xattr.
        rustix::fs::setxattr(
            m.join("kept"),
            "user.k",
            b"v",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
    // The merged view, reconstructed after unmounting with a second mount.
    let expected = {
        let work2 = t.join("work2");
        fs::create_dir(&work2).unwrap();
        let _m = Mounted::overlay(lower.to_str().unwrap(), &upper, &work2, &merged);
        snapshot(&merged)
    };

    let mut tar = Vec::new();
    let stats = layer::diff(&upper, &mut tar, &DiffOptions::default()).unwrap();
    assert_eq!(stats.diff_id, sha256(&tar));
    assert_eq!(stats.size as usize, tar.len());
    let names = tar_names(&tar);
    eprintln!("diff entries: {names:?}");
    assert!(names.contains(&".wh.deleted".to_string()));
    assert!(names.contains(&"opaque/.wh..wh..opq".to_string()));
    assert!(names.contains(&long));
    assert!(!names.iter().any(|n| n.starts_with("replaced/")));
    let mut a = tar::Archive::new(&tar[..]);
    let mut kept_xattr = None;
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        if &*e.path_bytes() == b"kept" {
            for x in e.pax_extensions().unwrap().unwrap() {
                let x = x.unwrap();
                kept_xattr = Some((x.key().unwrap().to_string(), x.value_bytes().to_vec()));
            }
        }
    }
    assert_eq!(
        kept_xattr,
        Some(("SCHILY.xattr.user.k".to_string(), b"v".to_vec()))
    );

    // Reproducible: same tree, same bytes.
    let mut again = Vec::new();
    layer::diff(&upper, &mut again, &DiffOptions::default()).unwrap();
    assert_eq!(tar, again);

    // Apply onto a copy of lower == merged view.
    let copy = t.join("copy");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&lower)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(st.success());
    let o = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..opts()
    };
    layer::extract(&tar[..], &copy, &o).unwrap();
    assert_eq!(snapshot(&copy), expected);
    let a = fs::metadata(copy.join("suid")).unwrap();
    assert_eq!(a.ino(), fs::metadata(copy.join("suid-link")).unwrap().ino());

    // Extract as a layer dir (overlay whiteouts) and stack it on lower.
    let layer_dir = t.join("layer");
    fs::create_dir(&layer_dir).unwrap();
    layer::extract(&tar[..], &layer_dir, &opts()).unwrap();
    let stacked = t.join("stacked");
    fs::create_dir(&stacked).unwrap();
    let lowers = format!("{}:{}", layer_dir.display(), lower.display());
    let data = std::ffi::CString::new(format!("lowerdir={lowers}")).unwrap();
    mount(
        "overlay",
        &stacked,
        "overlay",
        MountFlags::RDONLY,
        Some(data.as_c_str()),
    )
    .unwrap();
    let _g = Mounted(stacked.clone());
    assert_eq!(snapshot(&stacked), expected);
}

#[test]
fn diff_round_trips_through_extract() {
    let tmp = tempfile::Builder::new()
        .prefix("berth-layer-diff2-")
        .tempdir()
        .unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("a/b")).unwrap();
    fs::write(src.join("a/b/f"), vec![1u8; 100_000]).unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    symlink("a/b/f", src.join("rel")).unwrap();
    let mut tar = Vec::new();
    let o = DiffOptions {
        reproducible_mtime: Some(1_000_000_000),
        ..Default::default()
    };
    layer::diff(&src, &mut tar, &o).unwrap();
    let dst = tmp.path().join("dst");
    fs::create_dir(&dst).unwrap();
    let out = layer::extract(&tar[..], &dst, &opts()).unwrap();
    assert_eq!(out.diff_id, sha256(&tar));
    assert_eq!(snapshot(&src), snapshot(&dst));
    // Clamped mtimes.
    assert_eq!(
        fs::metadata(dst.join("a/b/f")).unwrap().mtime(),
        1_000_000_000
    );
}
