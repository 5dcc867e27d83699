//! Extracting well-formed layers: entry types, metadata, long names,
//! compression, diff_id.

mod layer_util;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use berth_image::layer::{self, Compression, ExtractOptions};
use layer_util::{opts, root_or_skip, sha256, Sandbox, Tar, E};
use tar::EntryType;

fn sample() -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("etc/");
    t.file("etc/hostname", b"berth\n");
    t.file("etc/empty", b"");
    t.symlink("etc/abs", "/etc/hostname");
    t.symlink("etc/rel", "hostname");
    t.symlink("etc/dangling", "/nowhere/at/all");
    t.hardlink("etc/hard", "etc/hostname");
    let mut e = E::new("usr/bin/su", EntryType::Regular);
    e.content = b"#!/bin/true\n";
    e.mode = 0o4755;
    e.uid = 1000;
    e.gid = 2000;
    e.mtime = 1_234_567_890;
    t.add(e);
    let mut d = E::new("var/tmp/", EntryType::Directory);
    d.mode = 0o1777;
    d.mtime = 1_111_111_111;
    t.add(d);
    t.file("var/tmp/x", b"x");
    t.finish(2)
}

#[test]
fn types_metadata_and_diff_id() {
    let sb = Sandbox::new();
    let tar = sample();
    let out = layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    assert_eq!(out.diff_id, sha256(&tar));
    assert_eq!(out.entries, 10);
    assert_eq!(out.size, 6 + 12 + 1);
    let d = sb.dest();
    assert_eq!(fs::read(d.join("etc/hostname")).unwrap(), b"berth\n");
    assert_eq!(fs::read(d.join("etc/empty")).unwrap(), b"");
    assert_eq!(
        fs::read_link(d.join("etc/abs")).unwrap().to_str(),
        Some("/etc/hostname")
    );
    assert_eq!(
        fs::read_link(d.join("etc/rel")).unwrap().to_str(),
        Some("hostname")
    );
    assert_eq!(
        fs::read_link(d.join("etc/dangling")).unwrap().to_str(),
        Some("/nowhere/at/all")
    );
    let a = fs::metadata(d.join("etc/hostname")).unwrap();
    let b = fs::metadata(d.join("etc/hard")).unwrap();
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    let su = fs::symlink_metadata(d.join("usr/bin/su")).unwrap();
    assert_eq!(su.mtime(), 1_234_567_890);
    let tmp = fs::symlink_metadata(d.join("var/tmp")).unwrap();
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    // Set at the end, after var/tmp/x was written into it.
    assert_eq!(tmp.mtime(), 1_111_111_111);
    if rustix::process::geteuid().is_root() {
        assert_eq!((su.uid(), su.gid()), (1000, 2000));
        // setuid survives the chown because the mode is applied after it.
        assert_eq!(su.mode() & 0o7777, 0o4755);
    }
    sb.assert_nothing_outside();
}

#[test]
fn gzip_and_zstd_input() {
    let tar = sample();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    assert_eq!(layer::detect(&gz), Compression::Gzip);
    assert_eq!(layer::detect(&zst), Compression::Zstd);
    assert_eq!(layer::detect(&tar), Compression::None);
    for input in [gz, zst] {
        let sb = Sandbox::new();
        let out = layer::extract(&input[..], &sb.dest(), &opts()).unwrap();
        // diff_id is over the uncompressed stream.
        assert_eq!(out.diff_id, sha256(&tar));
        assert_eq!(
            fs::read(sb.dest().join("etc/hostname")).unwrap(),
            b"berth\n"
        );
    }
}

#[test]
fn long_names_pax_and_gnu() {
    let sb = Sandbox::new();
    let long150 = format!("{}/{}", "d".repeat(60), "f".repeat(89));
    let long300 = format!("{}/{}/{}", "a".repeat(100), "b".repeat(100), "c".repeat(98));
    let gnu = format!("{}/{}", "g".repeat(80), "h".repeat(70));
    let link_target = long300.clone();
    let mut t = Tar::new();
    t.file(&long150, b"150");
    t.file(&long300, b"300");
    t.gnu_long_file(&gnu, b"gnu");
    let mut s = E::new("sym", EntryType::Symlink);
    s.link = Some(link_target.as_bytes());
    t.add(s);
    t.hardlink(&format!("{}/hl", "d".repeat(60)), &long300);
    let tar = t.finish(2);
    let out = layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    assert_eq!(out.diff_id, sha256(&tar));
    let d = sb.dest();
    assert_eq!(fs::read(d.join(&long150)).unwrap(), b"150");
    assert_eq!(fs::read(d.join(&long300)).unwrap(), b"300");
    assert_eq!(fs::read(d.join(&gnu)).unwrap(), b"gnu");
    assert_eq!(
        fs::read_link(d.join("sym")).unwrap().to_str().unwrap(),
        link_target
    );
    assert_eq!(fs::read(d.join("d".repeat(60)).join("hl")).unwrap(), b"300");
}

#[test]
fn duplicates_later_wins() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    t.file("a", b"first");
    t.hardlink("alias", "a");
    t.file("a", b"second"); // must not write through the hard link
    t.dir("x/");
    t.file("x/inner", b"in");
    t.file("x", b"now a file"); // dir replaced by file
    t.file("y", b"file");
    t.dir("y/"); // file replaced by dir
    t.file("y/z", b"z");
    t.dir("keep/");
    t.file("keep/old", b"old");
    t.dir("keep/"); // existing dir keeps content
    t.symlink("s", "t");
    t.file("s/f1", b"via symlink"); // lands in t/f1 (resolved inside root)
    t.dir("s/"); // the symlink is replaced by a real directory...
    t.file("s/f2", b"in s"); // ...so this must not reuse a cached fd of t
    let tar = t.finish(2);
    layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    let d = sb.dest();
    assert_eq!(fs::read(d.join("a")).unwrap(), b"second");
    assert_eq!(fs::read(d.join("alias")).unwrap(), b"first");
    assert_eq!(fs::read(d.join("x")).unwrap(), b"now a file");
    assert_eq!(fs::read(d.join("y/z")).unwrap(), b"z");
    assert_eq!(fs::read(d.join("keep/old")).unwrap(), b"old");
    assert_eq!(fs::read(d.join("t/f1")).unwrap(), b"via symlink");
    assert_eq!(fs::read(d.join("s/f2")).unwrap(), b"in s");
    assert!(!d.join("t/f2").exists());
}

#[test]
fn devices_fifos_and_rootless_skip() {
    let mut t = Tar::new();
    let mut c = E::new("dev/null", EntryType::Char);
    c.dev = (1, 3);
    c.mode = 0o666;
    t.add(c);
    let mut b = E::new("dev/loop9", EntryType::Block);
    b.dev = (7, 9);
    t.add(b);
    t.add(E::new("run/fifo", EntryType::Fifo));
    let tar = t.finish(2);

    let sb = Sandbox::new();
    let rootless = ExtractOptions {
        rootless: true,
        ..opts()
    };
    let out = layer::extract(&tar[..], &sb.dest(), &rootless).unwrap();
    assert_eq!(out.skipped_devices, 2);
    assert!(!sb.dest().join("dev/null").exists());
    assert!(fs::symlink_metadata(sb.dest().join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    if !root_or_skip("devices_fifos_and_rootless_skip (device part)") {
        return;
    }
    let sb = Sandbox::new();
    let out = layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    assert_eq!(out.skipped_devices, 0);
    let m = fs::symlink_metadata(sb.dest().join("dev/null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(m.permissions().mode() & 0o777, 0o666);
    assert!(fs::symlink_metadata(sb.dest().join("dev/loop9"))
        .unwrap()
        .file_type()
        .is_block_device());
}

#[test]
fn xattrs_including_security_capability() {
    if !root_or_skip("xattrs_including_security_capability") {
        return;
    }
    // VFS v2 capability: CAP_NET_BIND_SERVICE (bit 10) permitted+effective.
    let mut cap = vec![0u8; 20];
    cap[0..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
    let mut t = Tar::new();
    let mut e = E::new("bin/ping", EntryType::Regular);
    e.content = b"ping";
    e.mode = 0o755;
    e.pax = vec![
        ("SCHILY.xattr.security.capability", &cap[..]),
        ("SCHILY.xattr.user.note", b"hello"),
    ];
    t.add(e);
    let mut d = E::new("data/", EntryType::Directory);
    d.pax = vec![("SCHILY.xattr.trusted.berth", b"dir")];
    t.add(d);
    let tar = t.finish(2);
    let sb = Sandbox::new();
    layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    let get = |p: &str, n: &str| {
        let mut buf = vec![0u8; 256];
        let len = rustix::fs::lgetxattr(sb.dest().join(p), n, &mut buf[..]).unwrap();
        buf.truncate(len);
        buf
    };
    assert_eq!(get("bin/ping", "security.capability"), cap);
    assert_eq!(get("bin/ping", "user.note"), b"hello");
    assert_eq!(get("data", "trusted.berth"), b"dir");
}

#[test]
fn dot_slash_root_entry_and_pax_mtime() {
    let sb = Sandbox::new();
    let mut t = Tar::new();
    let mut r = E::new("./", EntryType::Directory);
    r.mode = 0o750;
    t.add(r);
    let mut f = E::new("./f", EntryType::Regular);
    f.pax = vec![("mtime", b"1700000000.25")];
    t.add(f);
    let tar = t.finish(2);
    layer::extract(&tar[..], &sb.dest(), &opts()).unwrap();
    assert_eq!(fs::metadata(sb.dest()).unwrap().mode() & 0o777, 0o750);
    let m = fs::metadata(sb.dest().join("f")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 250_000_000));
}
