//! Hostile layers: every case asserts nothing appeared outside dest and
//! what the outcome was.

mod layer_util;

use std::fs;
use std::io::{self, Read};

use berth_image::layer::{self, ExtractOptions, LayerError, WhiteoutMode};
use layer_util::{opts, Sandbox, Tar, E};
use tar::EntryType;

fn run(tar: &[u8], opts: &ExtractOptions) -> (Sandbox, Result<layer::Extracted, LayerError>) {
    let sb = Sandbox::new();
    let r = layer::extract(tar, &sb.dest(), opts);
    sb.assert_nothing_outside();
    (sb, r)
}

#[test]
fn dotdot_escape_is_rejected_naming_the_entry() {
    for name in [
        "../outside/evil",
        "a/../../outside/evil",
        "/../outside/evil",
    ] {
        let mut t = Tar::new();
        t.file("ok", b"fine");
        t.file(name, b"evil");
        let (_sb, r) = run(&t.finish(2), &opts());
        let e = r.unwrap_err();
        assert!(matches!(e, LayerError::Escapes { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("layer entry '{name}' escapes the root")),
            "{e}"
        );
    }
}

#[test]
fn absolute_names_are_made_relative() {
    let mut t = Tar::new();
    t.file("/etc/passwd", b"root:x:0:0::/root:/bin/sh\n");
    t.file("/a/b/../c", b"c");
    let (sb, r) = run(&t.finish(2), &opts());
    r.unwrap();
    assert_eq!(
        fs::read(sb.dest().join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(fs::read(sb.dest().join("a/c")).unwrap(), b"c");
}

#[test]
fn symlink_then_write_through_stays_inside() {
    // Classic: plant a symlink to the outside, then write "through" it,
    // both as a parent directory and as the final component.
    for target in [
        "../outside",
        "/",
        "../../../../../..",
        "/proc/self/root/tmp",
    ] {
        let mut t = Tar::new();
        t.symlink("link", target);
        t.file("link/sentinel", b"pwned");
        t.symlink("final", "../outside/sentinel");
        t.file("final", b"pwned");
        let (sb, r) = run(&t.finish(2), &opts());
        // Either it lands inside dest or fails; never outside.
        if r.is_ok() {
            // The final-component write replaced the symlink itself.
            assert_eq!(fs::read(sb.dest().join("final")).unwrap(), b"pwned");
            assert!(!fs::symlink_metadata(sb.dest().join("final"))
                .unwrap()
                .file_type()
                .is_symlink());
        }
    }
}

#[test]
fn symlink_parent_is_resolved_inside_root() {
    let mut t = Tar::new();
    t.symlink("etc", "/real-etc");
    t.file("etc/passwd", b"inside");
    let (sb, r) = run(&t.finish(2), &opts());
    r.unwrap();
    assert_eq!(
        fs::read(sb.dest().join("real-etc/passwd")).unwrap(),
        b"inside"
    );
}

#[test]
fn hard_link_to_outside_is_an_error() {
    for target in ["../outside/sentinel", "/../outside/sentinel"] {
        let mut t = Tar::new();
        t.hardlink("stolen", target);
        let (_sb, r) = run(&t.finish(2), &opts());
        let e = r.unwrap_err();
        assert!(matches!(e, LayerError::LinkEscapes { .. }), "{e}");
    }
    // Through a symlink planted earlier: resolved inside the root, where
    // there is no such file.
    let mut t = Tar::new();
    t.symlink("out", "../outside");
    t.hardlink("stolen", "out/sentinel");
    let (sb, r) = run(&t.finish(2), &opts());
    let e = r.unwrap_err();
    assert!(matches!(e, LayerError::LinkTarget { .. }), "{e}");
    assert!(!sb.dest().join("stolen").exists());
    // Absolute target inside is fine.
    let mut t = Tar::new();
    t.file("f", b"f");
    t.hardlink("g", "/f");
    let (sb, r) = run(&t.finish(2), &opts());
    r.unwrap();
    assert_eq!(fs::read(sb.dest().join("g")).unwrap(), b"f");
}

#[test]
fn whiteout_outside_is_an_error() {
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Apply] {
        let mut t = Tar::new();
        t.file("../outside/.wh.sentinel", b"");
        let o = ExtractOptions {
            whiteouts: mode,
            ..opts()
        };
        let (_sb, r) = run(&t.finish(2), &o);
        assert!(matches!(r, Err(LayerError::Escapes { .. })));
        // ".wh.." would name the parent.
        let mut t = Tar::new();
        t.file("a/.wh..", b"");
        let (_sb, r) = run(&t.finish(2), &o);
        assert!(r.is_err());
        // A whiteout through a symlink to the outside removes nothing there.
        let mut t = Tar::new();
        t.symlink("out", "../outside");
        t.file("out/.wh.sentinel", b"");
        let (_sb, _r) = run(&t.finish(2), &o);
    }
}

/// A reader that yields `data` and then zeros forever would make a 1 TiB
/// claim "succeed"; here the stream ends, as a real truncated layer does.
#[test]
fn absurd_size_fails_when_the_stream_ends() {
    let mut t = Tar::new();
    let mut e = E::new("huge", EntryType::Regular);
    e.content = &[7u8; 4096];
    e.claimed_size = Some(1 << 40);
    t.add(e);
    let tar = t.data.clone();
    let (sb, r) = run(&tar, &opts());
    let e = r.unwrap_err();
    assert!(
        matches!(e, LayerError::Truncated { expected, got, .. } if expected == 1 << 40 && got == 4096),
        "{e}"
    );
    // Nothing was preallocated.
    assert!(
        fs::metadata(sb.dest().join("huge"))
            .map(|m| m.len())
            .unwrap_or(0)
            <= 4096
    );
}

#[test]
fn huge_pax_header_is_bounded() {
    // A PAX header claiming 1 TiB, backed by an endless stream of bytes:
    // the parser would buffer it all in memory; we stop at the limit.
    let mut t = Tar::new();
    t.raw_header(b"././@PaxHeader", EntryType::XHeader, 1 << 40, |_| {});
    let head = t.data.clone();
    let endless = head.chain(io::repeat(b'a'));
    let sb = Sandbox::new();
    let e = layer::extract(endless, &sb.dest(), &opts()).unwrap_err();
    assert!(matches!(e, LayerError::MetadataTooLarge { .. }), "{e}");
    sb.assert_nothing_outside();
}

#[test]
fn long_paths_are_capped() {
    let comp = "c".repeat(256);
    let mut t = Tar::new();
    t.file(&comp, b"x");
    let (_sb, r) = run(&t.finish(2), &opts());
    assert!(matches!(r, Err(LayerError::NameTooLong { limit: 255, .. })));
    let deep = vec!["d".repeat(200); 25].join("/");
    let mut t = Tar::new();
    t.file(&deep, b"x");
    let (_sb, r) = run(&t.finish(2), &opts());
    assert!(matches!(
        r,
        Err(LayerError::NameTooLong { limit: 4096, .. })
    ));
}

#[test]
fn devices_when_rootless_are_skipped() {
    let mut t = Tar::new();
    let mut c = E::new("dev/mem", EntryType::Char);
    c.dev = (1, 1);
    t.add(c);
    let o = ExtractOptions {
        rootless: true,
        ..opts()
    };
    let (sb, r) = run(&t.finish(2), &o);
    assert_eq!(r.unwrap().skipped_devices, 1);
    assert!(!sb.dest().join("dev/mem").exists());
}

#[test]
fn garbage_and_truncated_headers_fail_cleanly() {
    let mut t = Tar::new();
    t.file("a", b"a");
    let mut tar = t.finish(0);
    tar.extend_from_slice(&[0x41; 300]); // half a header
    let (_sb, r) = run(&tar, &opts());
    assert!(matches!(r, Err(LayerError::Tar { .. })), "{r:?}");
    let mut bad = vec![0x55u8; 512];
    bad[0] = b'x';
    let (_sb, r) = run(&bad, &opts());
    assert!(r.is_err());
}

#[test]
fn hard_link_to_a_symlink_links_the_symlink_itself() {
    let mut t = Tar::new();
    t.symlink("sym", "../outside/sentinel");
    t.hardlink("hl", "sym");
    t.file("hl", b"replaces the link, not the outside file");
    let (sb, r) = run(&t.finish(2), &opts());
    r.unwrap();
    let m = fs::symlink_metadata(sb.dest().join("sym")).unwrap();
    assert!(m.file_type().is_symlink());
    let mut t = Tar::new();
    t.symlink("sym", "../outside/sentinel");
    t.hardlink("hl", "sym");
    let (sb, r) = run(&t.finish(2), &opts());
    r.unwrap();
    let hl = fs::symlink_metadata(sb.dest().join("hl")).unwrap();
    assert!(
        hl.file_type().is_symlink(),
        "hard link followed the symlink"
    );
}
