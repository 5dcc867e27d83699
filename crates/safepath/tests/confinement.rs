//! The same behaviour is required of both resolvers, so every test body takes
//! the resolver and `both!` instantiates it for openat2 and for the walk.

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use berth_safepath::{
    fd_real_path, proc_fd_path, NodeKind, OFlags, OpenInRoot, Resolver, Root, SafePathError,
};
use rustix::fs::{fstat, FileType};
use rustix::io::Errno;

/// A temp dir holding `root/` (the fake rootfs) and `host/` (stands for
/// anything outside it). Removed on drop.
struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    host: PathBuf,
}

fn fx() -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    // Canonical, so fd_real_path results compare directly.
    let base = fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("root");
    let host = base.join("host");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(&host).unwrap();
    fs::write(root.join("etc/marker"), "inside").unwrap();
    fs::write(host.join("secret"), "host secret").unwrap();
    Fx {
        _tmp: tmp,
        root,
        host,
    }
}

fn open_root(fx: &Fx, r: Resolver) -> Root {
    let root = Root::with_mode(&fx.root, r).unwrap();
    assert_eq!(root.resolver(), r);
    root
}

fn real(fd: &OwnedFd) -> PathBuf {
    fd_real_path(fd.as_fd()).unwrap()
}

fn ftype(fd: &OwnedFd) -> FileType {
    FileType::from_raw_mode(fstat(fd).unwrap().st_mode)
}

fn errno(e: &SafePathError) -> Errno {
    Errno::from_raw_os_error(e.raw_os_error().expect("errno"))
}

/// A host path that does not exist and that nothing else will create.
fn unique_outside() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = PathBuf::from(format!(
        "/tmp/outside-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    assert!(!p.exists(), "{} unexpectedly exists", p.display());
    p
}

fn abs_symlink_resolves_inside(r: Resolver) {
    let fx = fx();
    symlink("/etc", fx.root.join("a")).unwrap();
    let root = open_root(&fx, r);
    assert_eq!(
        real(&root.resolve(Path::new("/a")).unwrap()),
        fx.root.join("etc")
    );
    assert_eq!(
        real(&root.resolve(Path::new("a")).unwrap()),
        fx.root.join("etc")
    );
    let marker = root.resolve(Path::new("/a/marker")).unwrap();
    assert_eq!(real(&marker), fx.root.join("etc/marker"));
    // Host /etc/hostname-like files must not be reachable through the link.
    let e = root.resolve(Path::new("/a/passwd")).unwrap_err();
    assert_eq!(errno(&e), Errno::NOENT, "{e}");
}

fn dotdot_clamps_at_root(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    assert_eq!(real(&root.resolve(Path::new("../../..")).unwrap()), fx.root);
    assert_eq!(
        real(&root.resolve(Path::new("/../../../etc")).unwrap()),
        fx.root.join("etc")
    );
    assert_eq!(
        real(&root.resolve(Path::new("etc/../../../etc/marker")).unwrap()),
        fx.root.join("etc/marker")
    );
    assert_eq!(real(&root.resolve(Path::new("/")).unwrap()), fx.root);
    assert_eq!(real(&root.resolve(Path::new("")).unwrap()), fx.root);
    // The host sibling "host/" must not be reachable via "..".
    let e = root.resolve(Path::new("../host/secret")).unwrap_err();
    assert_eq!(errno(&e), Errno::NOENT, "{e}");
}

fn relative_escape_symlink_stays_inside(r: Resolver) {
    let fx = fx();
    fs::create_dir(fx.root.join("sub")).unwrap();
    symlink("../../../../../etc", fx.root.join("sub/esc")).unwrap();
    symlink("../host", fx.root.join("sibling")).unwrap();
    let root = open_root(&fx, r);
    assert_eq!(
        real(&root.resolve(Path::new("sub/esc")).unwrap()),
        fx.root.join("etc")
    );
    assert_eq!(
        real(&root.resolve(Path::new("sub/esc/marker")).unwrap()),
        fx.root.join("etc/marker")
    );
    let e = root.resolve(Path::new("sibling/secret")).unwrap_err();
    assert_eq!(errno(&e), Errno::NOENT, "{e}");
}

fn symlink_loop_is_eloop(r: Resolver) {
    let fx = fx();
    symlink("b", fx.root.join("a")).unwrap();
    symlink("/a", fx.root.join("b")).unwrap();
    symlink("self", fx.root.join("self")).unwrap();
    let root = open_root(&fx, r);
    for p in ["a", "/b/x", "self"] {
        let e = root.resolve(Path::new(p)).unwrap_err();
        assert_eq!(errno(&e), Errno::LOOP, "{p}: {e}");
        assert!(matches!(e, SafePathError::SymlinkLoop { .. }), "{p}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&format!("'{p}'")), "{msg}");
        assert!(msg.contains(&fx.root.display().to_string()), "{msg}");
    }
    let e = root.mkdir_all(Path::new("a/x"), 0o755).unwrap_err();
    assert_eq!(errno(&e), Errno::LOOP, "{e}");
    // A long but finite chain is fine.
    for i in 0..30 {
        symlink(format!("l{}", i + 1), fx.root.join(format!("l{i}"))).unwrap();
    }
    symlink("etc", fx.root.join("l30")).unwrap();
    assert_eq!(
        real(&root.resolve(Path::new("l0")).unwrap()),
        fx.root.join("etc")
    );
}

fn mkdir_all_through_outside_symlink(r: Resolver) {
    let fx = fx();
    let outside = unique_outside();
    symlink(&outside, fx.root.join("evil")).unwrap();
    let root = open_root(&fx, r);
    let fd = root.mkdir_all(Path::new("/evil/sub/dir"), 0o755);
    let host_created = outside.exists();
    if host_created {
        let _ = fs::remove_dir_all(&outside);
    }
    let fd = fd.unwrap();
    assert!(!host_created, "created {} on the host", outside.display());
    let inside = fx.root.join(outside.strip_prefix("/").unwrap());
    assert!(inside.join("sub/dir").is_dir());
    assert_eq!(real(&fd), inside.join("sub/dir"));
    assert_eq!(ftype(&fd), FileType::Directory);
    // Second call is a no-op returning the same directory.
    let again = root.mkdir_all(Path::new("evil/sub/dir"), 0o755).unwrap();
    assert_eq!(fstat(&again).unwrap().st_ino, fstat(&fd).unwrap().st_ino);
    assert!(!outside.exists());
}

fn mkdir_all_relative_escape_and_dotdot(r: Resolver) {
    let fx = fx();
    symlink("../../host", fx.root.join("up")).unwrap();
    let root = open_root(&fx, r);
    let fd = root.mkdir_all(Path::new("up/new/../made"), 0o700).unwrap();
    assert_eq!(real(&fd), fx.root.join("host/made"));
    assert!(fx.root.join("host/new").is_dir());
    assert!(!fx.host.join("made").exists() && !fx.host.join("new").exists());
    let mode = fs::metadata(fx.root.join("host/made"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700 & !current_umask());
}

/// Read, not set: umask is process-wide and the tests run in parallel.
fn current_umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Umask:")).unwrap();
    u32::from_str_radix(line["Umask:".len()..].trim(), 8).unwrap()
}

fn mkdir_all_not_a_directory(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    let e = root
        .mkdir_all(Path::new("/etc/marker/x"), 0o755)
        .unwrap_err();
    assert_eq!(errno(&e), Errno::NOTDIR);
    let want = format!(
        "mkdir_all: component 'marker' of '/etc/marker/x' inside {} is not a directory",
        fx.root.display()
    );
    assert_eq!(e.to_string(), want);
    let e = root.mkdir_all(Path::new("/etc/marker"), 0o755).unwrap_err();
    assert_eq!(errno(&e), Errno::NOTDIR, "{e}");
}

fn create_file_never_touches_symlink_target(r: Resolver) {
    let fx = fx();
    let host_file = fx.host.join("secret");
    let before = fs::metadata(&host_file).unwrap();
    // Both an absolute and a relative link that would hit the host file if
    // followed by the host.
    symlink(&host_file, fx.root.join("etc/abs")).unwrap();
    symlink("../../host/secret", fx.root.join("etc/rel")).unwrap();
    let root = open_root(&fx, r);
    for p in ["/etc/abs", "etc/rel"] {
        let e = root.create_file(Path::new(p), 0o644).unwrap_err();
        assert!(matches!(e, SafePathError::IsSymlink { .. }), "{e:?}");
        assert_eq!(errno(&e), Errno::LOOP);
        assert!(e.to_string().contains(&format!("'{p}'")), "{e}");
    }
    let after = fs::metadata(&host_file).unwrap();
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host secret");
    assert_eq!(
        (before.len(), before.mtime(), before.mtime_nsec()),
        (after.len(), after.mtime(), after.mtime_nsec())
    );
    assert!(!fx.root.join(host_file.strip_prefix("/").unwrap()).exists());
    assert!(!fx.root.join("host").exists());
}

fn create_file_creates_and_keeps(r: Resolver) {
    let fx = fx();
    symlink("/etc", fx.root.join("a")).unwrap();
    let root = open_root(&fx, r);
    // Parents are created, through the in-root symlink.
    let fd = root
        .create_file(Path::new("/a/new/dir/file"), 0o600)
        .unwrap();
    let p = fx.root.join("etc/new/dir/file");
    assert_eq!(real(&fd), p);
    assert_eq!(ftype(&fd), FileType::RegularFile);
    assert_eq!(fs::metadata(&p).unwrap().len(), 0);
    // Existing content is kept (no O_TRUNC).
    let fd = root.create_file(Path::new("etc/marker"), 0o600).unwrap();
    assert_eq!(real(&fd), fx.root.join("etc/marker"));
    assert_eq!(
        fs::read_to_string(fx.root.join("etc/marker")).unwrap(),
        "inside"
    );
    let e = root.create_file(Path::new("etc"), 0o600).unwrap_err();
    assert_eq!(errno(&e), Errno::ISDIR, "{e}");
    let e = root.create_file(Path::new("/"), 0o600).unwrap_err();
    assert!(matches!(e, SafePathError::InvalidPath { .. }), "{e:?}");
}

fn resolve_nofollow_returns_link(r: Resolver) {
    let fx = fx();
    symlink("/etc", fx.root.join("a")).unwrap();
    symlink("/nonexistent", fx.root.join("dangling")).unwrap();
    let root = open_root(&fx, r);
    let fd = root.resolve_nofollow(Path::new("/a")).unwrap();
    assert_eq!(ftype(&fd), FileType::Symlink);
    assert_eq!(real(&fd), fx.root.join("a"));
    let fd = root.resolve_nofollow(Path::new("dangling")).unwrap();
    assert_eq!(ftype(&fd), FileType::Symlink);
    // Intermediate links are still followed.
    let fd = root.resolve_nofollow(Path::new("a/marker")).unwrap();
    assert_eq!(real(&fd), fx.root.join("etc/marker"));
    // A trailing slash means "the directory", so the link is followed.
    let fd = root.resolve_nofollow(Path::new("a/")).unwrap();
    assert_eq!(real(&fd), fx.root.join("etc"));
    let e = root.resolve(Path::new("dangling")).unwrap_err();
    assert_eq!(errno(&e), Errno::NOENT, "{e}");
}

fn proc_fd_round_trip(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    let fd = root.resolve(Path::new("etc/marker")).unwrap();
    let proc = proc_fd_path(fd.as_fd());
    assert_eq!(
        proc,
        PathBuf::from(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
    );
    assert_eq!(
        fd_real_path(fd.as_fd()).unwrap(),
        fx.root.join("etc/marker")
    );
    // Opening the magic path reaches the very same file.
    let mut s = String::new();
    fs::File::open(&proc)
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "inside");
    assert_eq!(fd_real_path(root.as_fd()).unwrap(), fx.root);
    assert_eq!(root.path(), fx.root);
}

fn error_messages_name_path_and_root(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    let root_s = fx.root.display().to_string();

    let e = root.resolve(Path::new("/etc/marker/passwd")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("resolve: component 'marker' of '/etc/marker/passwd' inside {root_s} is not a directory")
    );
    let e = root.resolve(Path::new("/etc/missing/x")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("resolve: component 'missing' of '/etc/missing/x' inside {root_s} does not exist")
    );
    assert!(matches!(e, SafePathError::NotFound { .. }));
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let e = root.resolve_nofollow(Path::new("nope")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("resolve (nofollow): component 'nope' of 'nope' inside "),
        "{e}"
    );

    let e = Root::with_mode(&fx.root.join("etc/marker"), r).unwrap_err();
    assert!(e.to_string().contains("etc/marker"), "{e}");
    assert_eq!(errno(&e), Errno::NOTDIR);
    let io: std::io::Error = root.resolve(Path::new("x")).unwrap_err().into();
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
}

fn open_inside_root(r: Resolver) {
    let fx = fx();
    symlink("/etc", fx.root.join("a")).unwrap();
    symlink(fx.host.join("secret"), fx.root.join("etc/hostlink")).unwrap();
    let root = open_root(&fx, r);
    // Writes through an absolute symlink land inside the root.
    let fd = root
        .open(
            Path::new("/a/written"),
            OFlags::WRONLY | OFlags::CREATE,
            0o640,
        )
        .unwrap();
    rustix::io::write(&fd, b"hello").unwrap();
    drop(fd);
    assert_eq!(
        fs::read_to_string(fx.root.join("etc/written")).unwrap(),
        "hello"
    );
    // O_CREAT through a link to a host path creates inside the root: here
    // the link's parents do not exist inside, so like open(2) it fails...
    let e = root
        .open(
            Path::new("etc/hostlink"),
            OFlags::WRONLY | OFlags::CREATE,
            0o600,
        )
        .unwrap_err();
    assert_eq!(errno(&e), Errno::NOENT, "{e}");
    assert_eq!(
        fs::read_to_string(fx.host.join("secret")).unwrap(),
        "host secret"
    );
    // ...and once they exist, the file is created there, not on the host.
    let inner_host = fx.root.join(fx.host.strip_prefix("/").unwrap());
    fs::create_dir_all(&inner_host).unwrap();
    let fd = root
        .open(
            Path::new("etc/hostlink"),
            OFlags::WRONLY | OFlags::CREATE,
            0o600,
        )
        .unwrap();
    assert_eq!(real(&fd), inner_host.join("secret"));
    assert_eq!(
        fs::read_to_string(fx.host.join("secret")).unwrap(),
        "host secret"
    );
    // O_NOFOLLOW on a final symlink refuses, like open(2).
    let e = root
        .open(Path::new("a"), OFlags::RDONLY | OFlags::NOFOLLOW, 0)
        .unwrap_err();
    assert_eq!(errno(&e), Errno::LOOP, "{e}");
    assert!(e.to_string().starts_with("open: "), "{e}");
    // O_CREAT|O_EXCL never follows a final (dangling) symlink.
    symlink("/etc/excl-target", fx.root.join("dangling")).unwrap();
    let e = root
        .open(
            Path::new("dangling"),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL,
            0o600,
        )
        .unwrap_err();
    assert_eq!(errno(&e), Errno::EXIST, "{e}");
    assert!(!fx.root.join("etc/excl-target").exists());
    // Without O_EXCL, O_CREAT follows it and creates the target inside.
    root.open(
        Path::new("dangling"),
        OFlags::WRONLY | OFlags::CREATE,
        0o600,
    )
    .unwrap();
    assert!(fx.root.join("etc/excl-target").is_file());
    let fd = root
        .open_at(Path::new("a"), OFlags::RDONLY | OFlags::DIRECTORY, 0)
        .unwrap();
    assert_eq!(real(&fd), fx.root.join("etc"));
    let fd = root
        .open(Path::new("/"), OFlags::RDONLY | OFlags::DIRECTORY, 0)
        .unwrap();
    assert_eq!(real(&fd), fx.root);
}

fn mknod_fifo_and_device(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    root.mknod(Path::new("/run/x/fifo"), NodeKind::Fifo, 0o600, 0, 0)
        .unwrap();
    assert!(fs::metadata(fx.root.join("run/x/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    // Idempotent for the same kind, an error for something else.
    root.mknod(Path::new("/run/x/fifo"), NodeKind::Fifo, 0o600, 0, 0)
        .unwrap();
    let e = root
        .mknod(Path::new("/etc/marker"), NodeKind::Fifo, 0o600, 0, 0)
        .unwrap_err();
    assert_eq!(errno(&e), Errno::EXIST);
    assert!(e.to_string().contains("regular file"), "{e}");
    // A symlink planted at the name is not followed.
    let outside = unique_outside();
    symlink(&outside, fx.root.join("etc/planted")).unwrap();
    let e = root
        .mknod(Path::new("/etc/planted"), NodeKind::Fifo, 0o600, 0, 0)
        .unwrap_err();
    assert_eq!(errno(&e), Errno::EXIST, "{e}");
    assert!(!outside.exists());

    // Device nodes need CAP_MKNOD; skip that half when we lack it.
    match root.mknod(Path::new("/dev/null"), NodeKind::Char, 0o666, 1, 3) {
        Err(e) if errno(&e) == Errno::PERM => {}
        Err(e) => panic!("{e}"),
        Ok(()) => {
            let md = fs::metadata(fx.root.join("dev/null")).unwrap();
            assert!(md.file_type().is_char_device());
            assert_eq!(md.rdev(), rustix::fs::makedev(1, 3));
            root.mknod(Path::new("/dev/null"), NodeKind::Char, 0o666, 1, 3)
                .unwrap();
            let e = root
                .mknod(Path::new("/dev/null"), NodeKind::Char, 0o666, 1, 5)
                .unwrap_err();
            assert_eq!(errno(&e), Errno::EXIST, "{e}");
        }
    }
}

fn symlink_create(r: Resolver) {
    let fx = fx();
    let root = open_root(&fx, r);
    root.symlink(Path::new("/proc/self/fd"), Path::new("/dev/fd"))
        .unwrap();
    assert_eq!(
        fs::read_link(fx.root.join("dev/fd")).unwrap(),
        Path::new("/proc/self/fd")
    );
    root.symlink(Path::new("/proc/self/fd"), Path::new("dev/fd"))
        .unwrap();
    let e = root
        .symlink(Path::new("/elsewhere"), Path::new("/dev/fd"))
        .unwrap_err();
    assert_eq!(errno(&e), Errno::EXIST);
    assert!(e.to_string().contains("/proc/self/fd"), "{e}");
    let e = root
        .symlink(Path::new("x"), Path::new("/etc/marker"))
        .unwrap_err();
    assert!(e.to_string().contains("regular file"), "{e}");
    // Parent through an escaping symlink: created inside.
    symlink("../../host", fx.root.join("up")).unwrap();
    root.symlink(Path::new("t"), Path::new("up/l")).unwrap();
    assert!(fs::symlink_metadata(fx.root.join("host/l"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!fx.host.join("l").exists());
}

fn component_swapped_concurrently(r: Resolver) {
    // A thread keeps flipping root/a between a directory and symlinks that
    // would escape if resolved on the host. Every successful result must
    // still be inside the root.
    let fx = fx();
    let a = fx.root.join("a");
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let (a, host, stop) = (a.clone(), fx.host.clone(), stop.clone());
        let tmp = fx.root.join("a.tmp");
        std::thread::spawn(move || {
            let mut absolute = false;
            while !stop.load(Ordering::Relaxed) {
                // remove_dir_all removes a symlink itself, never its target.
                let _ = fs::remove_dir_all(&tmp);
                let _ = fs::create_dir(&tmp);
                let _ = fs::write(tmp.join("secret"), "inside");
                let _ = fs::remove_dir_all(&a);
                let _ = fs::rename(&tmp, &a);
                std::thread::yield_now();
                let _ = fs::remove_dir_all(&a);
                absolute = !absolute;
                let target = if absolute {
                    host.clone()
                } else {
                    PathBuf::from("../host")
                };
                let _ = symlink(&target, &a);
                std::thread::yield_now();
            }
        })
    };
    let root = open_root(&fx, r);
    let (mut resolved, mut made, mut failed) = (0, 0, 0);
    for _ in 0..3000 {
        match root.resolve(Path::new("a/secret")) {
            Ok(fd) => {
                let p = real(&fd);
                assert!(p.starts_with(&fx.root), "escaped to {}", p.display());
                resolved += 1;
            }
            Err(_) => failed += 1,
        }
        match root.mkdir_all(Path::new("a/d"), 0o755) {
            Ok(fd) => {
                let p = real(&fd);
                assert!(p.starts_with(&fx.root), "escaped to {}", p.display());
                made += 1;
            }
            Err(_) => failed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    flipper.join().unwrap();
    assert!(!fx.host.join("d").exists());
    assert_eq!(fs::read_dir(&fx.host).unwrap().count(), 1);
    assert_eq!(
        fs::read_to_string(fx.host.join("secret")).unwrap(),
        "host secret"
    );
    eprintln!("{r:?}: under concurrent swapping: {resolved} resolved, {made} mkdir_all ok, {failed} failed");
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod openat2 {
            $( #[test] fn $name() { super::$name(super::Resolver::Openat2) } )*
        }
        mod walk {
            $( #[test] fn $name() { super::$name(super::Resolver::Walk) } )*
        }
    };
}

both!(
    abs_symlink_resolves_inside,
    dotdot_clamps_at_root,
    relative_escape_symlink_stays_inside,
    symlink_loop_is_eloop,
    mkdir_all_through_outside_symlink,
    mkdir_all_relative_escape_and_dotdot,
    mkdir_all_not_a_directory,
    create_file_never_touches_symlink_target,
    create_file_creates_and_keeps,
    resolve_nofollow_returns_link,
    proc_fd_round_trip,
    error_messages_name_path_and_root,
    open_inside_root,
    mknod_fifo_and_device,
    symlink_create,
    component_swapped_concurrently,
);

#[test]
fn auto_detects_openat2_on_this_kernel() {
    let fx = fx();
    // The machine this is developed on has openat2 (5.6+); under a seccomp
    // profile that blocks it the walk is the right answer too.
    let root = Root::open(&fx.root).unwrap();
    assert!(matches!(
        root.resolver(),
        Resolver::Openat2 | Resolver::Walk
    ));
    if std::env::var_os("BERTH_EXPECT_OPENAT2").is_some() {
        assert_eq!(root.resolver(), Resolver::Openat2);
    }
    assert_eq!(
        real(&root.resolve(Path::new("/etc")).unwrap()),
        fx.root.join("etc")
    );
}

#[test]
fn root_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Root>();
    assert_send_sync::<SafePathError>();
}
