//! End to end: a real context directory with awkward names and hostile symlinks,
//! copied onto a destination root that tries to redirect writes out of itself;
//! ADD from a URL served on 127.0.0.1; ADD of archives in every compression.
//! Runs as root (owners are checked); under CI=true a missing root is a failure.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use berth_build::context::{BuildContext, DockerfileSpec};
use berth_build::copy::{self, Chmod, CopyOptions, UrlOptions};
use berth_build::glob::SourceTree;
use berth_build::ignore::Ignore;
use berth_build::users::{resolve_chown, Owner};
use berth_build::BuildError;

fn need_root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "these tests need root under CI"
    );
    eprintln!("skipping: not root");
    false
}

const OLD: u64 = 1_000_000_000; // 2001-09-09

fn set_mtime(p: &Path, secs: u64) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
    fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// The context: spaces, unicode, dotfiles, nested dirs, symlinks out of it, an
/// excluded directory with an exception inside, hard links, a log file excluded.
fn make_context(p: &Path) {
    let w = |rel: &str, data: &str, mode: u32| {
        let f = p.join(rel);
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(&f, data).unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
    };
    w("Dockerfile", "FROM scratch\n", 0o644);
    w(".dockerignore", "build\n!build/keep/me.txt\n*.log\n", 0o644);
    w("with space.txt", "space", 0o640);
    w("ünïcödé/файл.txt", "unicode", 0o644);
    w(".hidden", "dot", 0o600);
    w("nested/a/b/c.sh", "#!/bin/sh\n", 0o755);
    w("build/out.bin", "excluded", 0o644);
    w("build/keep/me.txt", "kept", 0o644);
    w("debug.log", "excluded", 0o644);
    w("hl1", "linked", 0o644);
    fs::hard_link(p.join("hl1"), p.join("hl2")).unwrap();
    set_mtime(&p.join("with space.txt"), OLD);
    symlink("/etc/passwd", p.join("out_abs")).unwrap();
    symlink("../../../../../../etc/shadow", p.join("out_rel")).unwrap();
    symlink("nested/a", p.join("inner_link")).unwrap();
    fs::set_permissions(p.join("nested/a"), fs::Permissions::from_mode(0o750)).unwrap();
    fs::File::open(p.join("nested/a"))
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(OLD + 5))
        .unwrap();
}

struct Rootfs {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// The host directory `/etc` of the image points at (absolute symlink).
    outside: tempfile::TempDir,
}

/// A destination root whose /etc is an absolute symlink to a real host directory
/// and whose /usr/link climbs with `../../..`; /tmp is 1777.
fn make_rootfs() -> Rootfs {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    fs::create_dir_all(root.join("usr")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let outside = tempfile::Builder::new()
        .prefix("evil-outside-")
        .tempdir_in("/tmp")
        .unwrap();
    fs::write(outside.path().join("passwd"), "evil:x:666:666::/:/bin/sh\n").unwrap();
    symlink(outside.path(), root.join("etc")).unwrap();
    symlink("../../..", root.join("usr/link")).unwrap();
    // What /etc means inside the root: the same absolute path, under the root.
    let inside = root.join(outside.path().strip_prefix("/").unwrap());
    fs::create_dir_all(&inside).unwrap();
    fs::write(
        inside.join("passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        inside.join("group"),
        "root:x:0:\napp:x:2345:\nstaff:x:50:\n",
    )
    .unwrap();
    Rootfs {
        _dir: dir,
        root,
        outside,
    }
}

/// path -> (kind, mode, uid, gid, symlink target or content)
fn snapshot(dir: &Path) -> BTreeMap<String, (char, u32, u32, u32, String)> {
    let mut out = BTreeMap::new();
    fn rec(base: &Path, dir: &Path, out: &mut BTreeMap<String, (char, u32, u32, u32, String)>) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let md = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let ft = md.file_type();
            let (k, extra) = if ft.is_symlink() {
                (
                    'l',
                    fs::read_link(&p).unwrap().to_string_lossy().into_owned(),
                )
            } else if ft.is_dir() {
                ('d', String::new())
            } else {
                (
                    'f',
                    String::from_utf8_lossy(&fs::read(&p).unwrap()).into_owned(),
                )
            };
            out.insert(rel, (k, md.mode() & 0o7777, md.uid(), md.gid(), extra));
            if ft.is_dir() {
                rec(base, &p, out);
            }
        }
    }
    rec(dir, dir, &mut out);
    out
}

fn opts(workdir: &str) -> CopyOptions {
    CopyOptions {
        workdir: workdir.into(),
        ..CopyOptions::default()
    }
}

#[test]
fn copy_context_into_hostile_rootfs() {
    if !need_root() {
        return;
    }
    let ctx_dir = tempfile::tempdir().unwrap();
    make_context(ctx_dir.path());
    let ctx = BuildContext::from_dir(ctx_dir.path(), DockerfileSpec::Default).unwrap();
    let tree = ctx.tree();
    let r = make_rootfs();
    let root = &r.root;

    // --chown by name, resolved inside the image (its /etc is a symlink out).
    let app = resolve_chown(root, "app").unwrap();
    assert_eq!(
        app,
        Owner {
            uid: 1234,
            gid: 2345
        }
    );
    assert!(
        resolve_chown(root, "evil").is_err(),
        "the host's passwd was read"
    );

    // COPY --chown=app . /srv/app/  (parents /srv and /srv/app are new)
    let o = CopyOptions {
        chown: Some(app),
        ..opts("/")
    };
    let rep = copy::copy(tree, &["."], root, "/srv/app/", &o).unwrap();
    let snap = snapshot(&root.join("srv"));
    let expect: Vec<(&str, char, u32, &str)> = vec![
        ("app", 'd', 0o755, ""),
        (
            "app/.dockerignore",
            'f',
            0o644,
            "build\n!build/keep/me.txt\n*.log\n",
        ),
        ("app/.hidden", 'f', 0o600, "dot"),
        ("app/Dockerfile", 'f', 0o644, "FROM scratch\n"),
        ("app/build", 'd', 0o755, ""),
        ("app/build/keep", 'd', 0o755, ""),
        ("app/build/keep/me.txt", 'f', 0o644, "kept"),
        ("app/hl1", 'f', 0o644, "linked"),
        ("app/hl2", 'f', 0o644, "linked"),
        ("app/inner_link", 'l', 0o777, "nested/a"),
        ("app/nested", 'd', 0o755, ""),
        ("app/nested/a", 'd', 0o750, ""),
        ("app/nested/a/b", 'd', 0o755, ""),
        ("app/nested/a/b/c.sh", 'f', 0o755, "#!/bin/sh\n"),
        ("app/out_abs", 'l', 0o777, "/etc/passwd"),
        ("app/out_rel", 'l', 0o777, "../../../../../../etc/shadow"),
        ("app/with space.txt", 'f', 0o640, "space"),
        ("app/ünïcödé", 'd', 0o755, ""),
        ("app/ünïcödé/файл.txt", 'f', 0o644, "unicode"),
    ];
    let got: Vec<(String, char, u32, String)> = snap
        .iter()
        .map(|(k, v)| (k.clone(), v.0, v.1, v.4.clone()))
        .collect();
    let want: Vec<(String, char, u32, String)> = expect
        .iter()
        .map(|(p, k, m, x)| (p.to_string(), *k, *m, x.to_string()))
        .collect();
    assert_eq!(got, want);
    for (p, v) in &snap {
        assert_eq!((v.2, v.3), (1234, 2345), "owner of {p}");
    }
    // New parent /srv: 0755 and the --chown owner; existing / untouched.
    let srv = fs::metadata(root.join("srv")).unwrap();
    assert_eq!(
        (srv.mode() & 0o7777, srv.uid(), srv.gid()),
        (0o755, 1234, 2345)
    );
    assert_eq!(rep.hardlinks, 1);
    assert_eq!(
        fs::metadata(root.join("srv/app/hl1")).unwrap().ino(),
        fs::metadata(root.join("srv/app/hl2")).unwrap().ino()
    );
    let mt = fs::metadata(root.join("srv/app/with space.txt"))
        .unwrap()
        .mtime();
    assert_eq!(mt as u64, OLD, "mtime kept from the context");
    let mt = fs::metadata(root.join("srv/app/nested/a")).unwrap().mtime();
    assert_eq!(
        mt as u64,
        OLD + 5,
        "a new directory gets its source's mtime after its content"
    );

    // Into /etc (an absolute symlink out of the root): lands inside the root.
    copy::copy(tree, &["nested"], root, "/etc/conf/", &opts("/")).unwrap();
    let inside = root.join(r.outside.path().strip_prefix("/").unwrap());
    assert!(inside.join("conf/a/b/c.sh").is_file());
    let host_names: Vec<_> = fs::read_dir(r.outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        host_names,
        vec![std::ffi::OsString::from("passwd")],
        "nothing written outside"
    );
    assert_eq!(
        fs::read_to_string(r.outside.path().join("passwd")).unwrap(),
        "evil:x:666:666::/:/bin/sh\n"
    );

    // Through /usr/link -> ../../.. : clamps at the root.
    copy::copy(
        tree,
        &["with space.txt"],
        root,
        "/usr/link/escaped.txt",
        &opts("/"),
    )
    .unwrap();
    assert_eq!(
        fs::read_to_string(root.join("escaped.txt")).unwrap(),
        "space"
    );
    assert!(!r._dir.path().join("escaped.txt").exists());
    assert!(!Path::new("/escaped.txt").exists());

    // A top-level symlink source is followed inside the context: out of it is "not found".
    for src in ["out_abs", "out_rel", "debug.log", "build/out.bin", "nope*"] {
        let e = copy::copy(tree, &[src], root, "/x", &opts("/")).unwrap_err();
        assert!(matches!(e, BuildError::SourceNotFound { .. }), "{src}: {e}");
    }
    // ... and inside it, followed: inner_link copies nested/a's contents.
    copy::copy(tree, &["inner_link"], root, "/followed", &opts("/")).unwrap();
    assert!(root.join("followed/b/c.sh").is_file());

    // Several sources need a directory destination written with '/'.
    let e = copy::copy(tree, &["hl1", ".hidden"], root, "multi", &opts("/work")).unwrap_err();
    assert!(matches!(e, BuildError::Destination { .. }), "{e}");
    copy::copy(tree, &["hl1", ".hidden"], root, "multi/", &opts("/work")).unwrap();
    assert!(root.join("work/multi/hl1").is_file() && root.join("work/multi/.hidden").is_file());
    // An existing directory is a directory destination without the '/'; /tmp keeps 1777.
    copy::copy(tree, &["hl1"], root, "/tmp", &opts("/")).unwrap();
    assert!(root.join("tmp/hl1").is_file());
    assert_eq!(
        fs::metadata(root.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    // A single file to a non-directory destination is renamed.
    copy::copy(tree, &["hl1"], root, "renamed.txt", &opts("/w2")).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("w2/renamed.txt")).unwrap(),
        "linked"
    );
    // A single-file destination that is a symlink is followed inside the root.
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::write(root.join("usr/bin/python3"), "old").unwrap();
    symlink("python3", root.join("usr/bin/python")).unwrap();
    copy::copy(tree, &["hl1"], root, "/usr/bin/python", &opts("/")).unwrap();
    assert_eq!(
        fs::read_link(root.join("usr/bin/python")).unwrap(),
        PathBuf::from("python3")
    );
    assert_eq!(
        fs::read_to_string(root.join("usr/bin/python3")).unwrap(),
        "linked"
    );
    symlink("/../../nowhere/file", root.join("dangling")).unwrap();
    copy::copy(tree, &["hl1"], root, "/dangling", &opts("/")).unwrap();
    assert_eq!(
        fs::read_to_string(root.join("nowhere/file")).unwrap(),
        "linked"
    );
    assert!(!Path::new("/nowhere").exists());

    // A file where a directory is: refused.
    let e = copy::copy(tree, &["nested"], root, "/w2/renamed.txt", &opts("/")).unwrap_err();
    assert!(matches!(e, BuildError::Destination { .. }), "{e}");

    // Wildcards, --exclude, --chmod, --parents.
    let o = CopyOptions {
        exclude: vec!["*.txt".into()],
        chmod: Some(Chmod::parse("0700").unwrap()),
        ..opts("/")
    };
    copy::copy(tree, &["nested", "*.txt", "h?1"], root, "/sel/", &o).unwrap();
    let snap = snapshot(&root.join("sel"));
    let names: Vec<(&str, u32)> = snap.iter().map(|(k, v)| (k.as_str(), v.1)).collect();
    assert_eq!(
        names,
        vec![
            ("a", 0o700),
            ("a/b", 0o700),
            ("a/b/c.sh", 0o700),
            ("hl1", 0o700)
        ]
    );
    let o = CopyOptions {
        parents: true,
        ..opts("/")
    };
    copy::copy(
        tree,
        &["nested/a/b/c.sh", "ünïcödé/*.txt", "./nested/./a/b"],
        root,
        "/par/",
        &o,
    )
    .unwrap();
    assert!(root.join("par/nested/a/b/c.sh").is_file());
    assert!(root.join("par/ünïcödé/файл.txt").is_file());
    assert!(
        root.join("par/a/b/c.sh").is_file(),
        "the part after /./ is kept"
    );

    // Heredoc.
    let p = copy::heredoc("EOF", b"hello\n", root, "/here/", "/", None, None).unwrap();
    assert_eq!(p, PathBuf::from("/here/EOF"));
    let md = fs::metadata(root.join("here/EOF")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid()), (0o644, 0));
    let chmod = Chmod::parse("u+x").unwrap();
    copy::heredoc(
        "EOF",
        b"#!/bin/sh\n",
        root,
        "run.sh",
        "/here",
        Some(app),
        Some(&chmod),
    )
    .unwrap();
    let md = fs::metadata(root.join("here/run.sh")).unwrap();
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o744, 1234, 2345)
    );
}

#[test]
fn copy_from_a_stage_rootfs() {
    if !need_root() {
        return;
    }
    // --from=<stage>: no .dockerignore, symlinks resolved inside that rootfs.
    let stage = tempfile::tempdir().unwrap();
    fs::create_dir_all(stage.path().join("usr/bin")).unwrap();
    fs::write(stage.path().join("usr/bin/tool"), "bin").unwrap();
    fs::set_permissions(
        stage.path().join("usr/bin/tool"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    symlink("/usr/bin/tool", stage.path().join("usr/bin/alias")).unwrap();
    let tree = SourceTree::open(stage.path(), Ignore::empty(), "stage builder").unwrap();
    let r = make_rootfs();
    copy::copy(&tree, &["/usr/bin/alias"], &r.root, "/opt/", &opts("/")).unwrap();
    let md = fs::metadata(r.root.join("opt/alias")).unwrap();
    assert!(md.is_file());
    assert_eq!(md.mode() & 0o7777, 0o4755, "setuid kept (set after chown)");
    // A merged-/usr image: /lib -> usr/lib is written through, not replaced.
    fs::create_dir_all(stage.path().join("lib")).unwrap();
    fs::write(stage.path().join("lib/libfoo.so"), "so").unwrap();
    fs::create_dir_all(r.root.join("usr/lib")).unwrap();
    symlink("usr/lib", r.root.join("lib")).unwrap();
    copy::copy(&tree, &["/"], &r.root, "/", &opts("/")).unwrap();
    assert_eq!(
        fs::read_link(r.root.join("lib")).unwrap(),
        PathBuf::from("usr/lib")
    );
    assert_eq!(
        fs::read_to_string(r.root.join("usr/lib/libfoo.so")).unwrap(),
        "so"
    );
    assert!(r.root.join("usr/bin/tool").is_file());
    copy::copy(&tree, &["lib"], &r.root, "/lib", &opts("/")).unwrap();
    assert!(fs::symlink_metadata(r.root.join("lib"))
        .unwrap()
        .file_type()
        .is_symlink());

    let e = copy::copy(&tree, &["/nope"], &r.root, "/opt/", &opts("/")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "COPY/ADD source \"/nope\" not found in stage builder: check the path and the .dockerignore"
    );
}

fn tar_archive() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(7);
    h.set_gid(8);
    h.set_size(0);
    h.set_cksum();
    b.append_data(&mut h, "pkg/", &[][..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o640);
    h.set_uid(7);
    h.set_gid(8);
    h.set_size(4);
    h.set_mtime(OLD);
    h.set_cksum();
    b.append_data(&mut h, "pkg/data", &b"data"[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_cksum();
    b.append_link(&mut h, "pkg/escape", "../../../../etc")
        .unwrap();
    b.into_inner().unwrap()
}

fn compress(kind: &str, data: &[u8]) -> Vec<u8> {
    match kind {
        "tar" => data.to_vec(),
        "gz" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "bz2" => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "xz" => {
            let mut e =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                    .unwrap();
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        "zst" => zstd::encode_all(data, 1).unwrap(),
        _ => unreachable!(),
    }
}

#[test]
fn add_extracts_local_archives_in_every_compression() {
    if !need_root() {
        return;
    }
    let ctx = tempfile::tempdir().unwrap();
    let kinds = ["tar", "gz", "bz2", "xz", "zst"];
    for k in kinds {
        // Misleading names on purpose: the content decides.
        fs::write(
            ctx.path().join(format!("archive-{k}.bin")),
            compress(k, &tar_archive()),
        )
        .unwrap();
    }
    let tree = SourceTree::open(ctx.path(), Ignore::empty(), "the build context").unwrap();
    let r = make_rootfs();
    for k in kinds {
        let add = CopyOptions {
            extract_archives: true,
            ..opts("/")
        };
        let dest = format!("/x/{k}");
        let rep = copy::copy(&tree, &[&format!("archive-{k}.bin")], &r.root, &dest, &add).unwrap();
        assert_eq!(rep.archives, 1, "{k}");
        let base = r.root.join(format!("x/{k}/pkg"));
        assert_eq!(
            fs::read_to_string(base.join("data")).unwrap(),
            "data",
            "{k}"
        );
        let md = fs::metadata(base.join("data")).unwrap();
        assert_eq!(
            (md.mode() & 0o7777, md.uid(), md.gid(), md.mtime() as u64),
            (0o640, 7, 8, OLD),
            "{k}"
        );
        assert_eq!(fs::metadata(&base).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(
            fs::read_link(base.join("escape")).unwrap(),
            PathBuf::from("../../../../etc")
        );
        // COPY never extracts.
        copy::copy(
            &tree,
            &[&format!("archive-{k}.bin")],
            &r.root,
            "/raw/",
            &opts("/"),
        )
        .unwrap();
        assert!(r.root.join(format!("raw/archive-{k}.bin")).is_file());
    }
    // --chown applies to what the archive contained.
    let add = CopyOptions {
        extract_archives: true,
        chown: Some(Owner { uid: 42, gid: 43 }),
        ..opts("/")
    };
    copy::copy(&tree, &["archive-gz.bin"], &r.root, "/owned/", &add).unwrap();
    for p in ["owned/pkg", "owned/pkg/data", "owned/pkg/escape"] {
        let md = fs::symlink_metadata(r.root.join(p)).unwrap();
        assert_eq!((md.uid(), md.gid()), (42, 43), "{p}");
    }
}

/// A one-shot-per-connection HTTP/1.1 server on 127.0.0.1 for `requests`
/// requests; paths map to bodies, anything else is a 404.
fn serve(
    routes: Vec<(&'static str, Vec<u8>)>,
    requests: usize,
) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let h = std::thread::spawn(move || {
        for _ in 0..requests {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let path = line.split(' ').nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            match routes.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 09 Sep 2001 01:46:40 GMT\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .unwrap();
                    s.write_all(body).unwrap();
                }
                None => {
                    write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .unwrap();
                }
            }
        }
    });
    (addr, h)
}

#[test]
fn add_from_url_with_checksums() {
    if !need_root() {
        return;
    }
    let body = b"downloaded content\n".to_vec();
    let good = format!("sha256:{}", {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&body))
    });
    let tgz = compress("gz", &tar_archive());
    let (base, server) = serve(
        vec![
            ("/files/tool.txt", body.clone()),
            ("/a.tar.gz", tgz.clone()),
            ("/", b"root".to_vec()),
        ],
        6,
    );
    let r = make_rootfs();

    let o = UrlOptions {
        checksum: Some(good.clone()),
        workdir: "/app".into(),
        ..UrlOptions::default()
    };
    let added = copy::add_url(&format!("{base}/files/tool.txt"), &r.root, "dl/", &o).unwrap();
    assert_eq!(added.path, PathBuf::from("/app/dl/tool.txt"));
    assert_eq!(added.digest, good);
    let p = r.root.join("app/dl/tool.txt");
    assert_eq!(fs::read(&p).unwrap(), body);
    let md = fs::metadata(&p).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o600, 0, 0));
    assert_eq!(md.mtime() as u64, OLD, "mtime from Last-Modified");

    // A bad checksum: an error, and nothing is written.
    let bad = UrlOptions {
        checksum: Some(format!("sha256:{}", "0".repeat(64))),
        ..UrlOptions::default()
    };
    let e = copy::add_url(
        &format!("{base}/files/tool.txt"),
        &r.root,
        "/bad/x.txt",
        &bad,
    )
    .unwrap_err();
    assert!(matches!(e, BuildError::ChecksumMismatch { .. }), "{e}");
    assert!(!r.root.join("bad").exists());

    // 404.
    let e = copy::add_url(
        &format!("{base}/missing"),
        &r.root,
        "/m",
        &UrlOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("404"), "{e}");

    // An archive from a URL is not extracted; --chmod and --chown apply.
    let o = UrlOptions {
        chmod: Some(Chmod::parse("644").unwrap()),
        chown: Some(Owner { uid: 5, gid: 6 }),
        ..UrlOptions::default()
    };
    let added = copy::add_url(&format!("{base}/a.tar.gz"), &r.root, "/pkgs/", &o).unwrap();
    assert_eq!(fs::read(r.root.join("pkgs/a.tar.gz")).unwrap(), tgz);
    assert_eq!(added.size, tgz.len() as u64);
    let md = fs::metadata(r.root.join("pkgs/a.tar.gz")).unwrap();
    assert_eq!((md.mode() & 0o7777, md.uid(), md.gid()), (0o644, 5, 6));
    // Created parent belongs to the --chown owner.
    assert_eq!(fs::metadata(r.root.join("pkgs")).unwrap().uid(), 5);

    // Through the hostile /etc symlink: lands inside the root.
    copy::add_url(
        &format!("{base}/files/tool.txt"),
        &r.root,
        "/etc/",
        &UrlOptions::default(),
    )
    .unwrap();
    assert!(!r.outside.path().join("tool.txt").exists());
    // No name in the URL: "index", as BuildKit names it.
    let added = copy::add_url(
        &format!("{base}/"),
        &r.root,
        "/idx/",
        &UrlOptions::default(),
    )
    .unwrap();
    assert_eq!(added.path, PathBuf::from("/idx/index"));
    assert_eq!(fs::read(r.root.join("idx/index")).unwrap(), b"root");
    server.join().unwrap();
}

fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Write the raw name: the tar crate refuses '..' in set_path.
        let n = name.as_bytes();
        h.as_old_mut().name[..n.len()].copy_from_slice(n);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn context_from_a_tar_on_stdin_hides_ignored_files() {
    if !need_root() {
        return;
    }
    let data = compress(
        "xz",
        &raw_tar(&[
            ("Dockerfile", b"FROM scratch\nCOPY . /\n"),
            (".dockerignore", b"secret\n"),
            ("secret", b"s"),
            ("app/main.rs", b"fn main() {}"),
        ]),
    );
    let ctx = BuildContext::from_stdin(&data[..], DockerfileSpec::Default, None).unwrap();
    assert_eq!(ctx.dockerfile(), b"FROM scratch\nCOPY . /\n");
    let names: Vec<String> = ctx.entries().unwrap().into_iter().map(|e| e.path).collect();
    assert_eq!(names, [".dockerignore", "Dockerfile", "app", "app/main.rs"]);
    let r = make_rootfs();
    copy::copy(ctx.tree(), &["."], &r.root, "/ctx/", &opts("/")).unwrap();
    assert!(r.root.join("ctx/app/main.rs").is_file());
    assert!(!r.root.join("ctx/secret").exists());
}

#[test]
fn context_tar_with_an_escaping_entry_is_refused() {
    let data = raw_tar(&[("Dockerfile", b"FROM scratch\n"), ("../../escape", b"x")]);
    let e = BuildContext::from_stdin(&data[..], DockerfileSpec::Default, None).unwrap_err();
    // The whole context is refused: nothing is half-used.
    assert!(matches!(e, BuildError::Extract { .. }), "{e}");
}

#[test]
fn checksum_of_an_unchanged_10000_file_context_reads_no_content() {
    use berth_build::checksum::{checksum, StatCache};
    let t = tempfile::tempdir().unwrap();
    let ctx = t.path().join("ctx");
    for d in 0..100 {
        let dir = ctx.join(format!("d{d:03}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f:03}")), format!("{d}/{f}")).unwrap();
        }
    }
    let tree = SourceTree::open(&ctx, Ignore::empty(), "the build context").unwrap();
    let matches = tree.expand(".").unwrap();
    let cache_file = t.path().join("statcache");
    // Zero window: these files were written a moment ago.
    let mut c = StatCache::load(&cache_file).with_racy_window(Duration::ZERO);
    let first = checksum(&tree, &matches, &Ignore::empty(), &mut c).unwrap();
    assert_eq!((c.hits, c.misses), (0, 10_000));
    c.save().unwrap();

    let mut c = StatCache::load(&cache_file).with_racy_window(Duration::ZERO);
    assert_eq!(c.len(), 10_000);
    assert_eq!(
        checksum(&tree, &matches, &Ignore::empty(), &mut c).unwrap(),
        first
    );
    assert_eq!(
        (c.hits, c.misses),
        (10_000, 0),
        "no file content read on a rebuild"
    );

    // One changed file: one hash, another digest; an --exclude'd change: same digest.
    fs::write(ctx.join("d042/f042"), "changed").unwrap();
    let second = checksum(&tree, &matches, &Ignore::empty(), &mut c).unwrap();
    assert_ne!(second, first);
    assert_eq!(c.misses, 1);
    let ex = Ignore::from_patterns(["d042/f042"], "--exclude").unwrap();
    let a = checksum(&tree, &matches, &ex, &mut c).unwrap();
    fs::write(ctx.join("d042/f042"), "changed again").unwrap();
    assert_eq!(checksum(&tree, &matches, &ex, &mut c).unwrap(), a);
}
