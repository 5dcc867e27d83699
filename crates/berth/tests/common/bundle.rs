//! The busybox root filesystem, built once and copied per test.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const BUSYBOX: &str = "/bin/busybox";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-bundle.sh")
}

/// Path of the cached rootfs, building it on first use. The cache lives in
/// cargo's per-target temp dir and is keyed by the busybox binary, so it
/// survives between runs and test binaries and is rebuilt when busybox or
/// the script changes. The layout comes from scripts/busybox-bundle.sh so the shell
/// quick start and the tests agree on what a test rootfs is.
pub fn cached_rootfs() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let md = std::fs::metadata(BUSYBOX)
            .unwrap_or_else(|e| panic!("{BUSYBOX}: {e} (apt-get install -y busybox-static)"));
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // The script's content is part of the key so layout changes rebuild.
        let script_text = std::fs::read(script()).expect("read busybox-bundle.sh");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&script_text, &mut h);
        let cache = tmp.join(format!(
            "busybox-rootfs-{}-{}-{:016x}",
            md.len(),
            md.mtime(),
            std::hash::Hasher::finish(&h)
        ));
        if cache.join("bin/busybox").exists() {
            return cache;
        }
        // Build beside the cache and rename into place, so a concurrent test
        // binary never sees a half-built rootfs.
        let work = tempfile::Builder::new()
            .prefix("busybox-build-")
            .tempdir_in(tmp)
            .expect("build dir");
        let bundle = work.path().join("b");
        let st = Command::new("sh")
            .arg(script())
            .arg(&bundle)
            .env("BUSYBOX", BUSYBOX)
            .status()
            .expect("run busybox-bundle.sh");
        assert!(st.success(), "busybox-bundle.sh failed: {st}");
        if std::fs::rename(bundle.join("rootfs"), &cache).is_err() {
            // Lost the race to another binary; its copy is as good.
            assert!(cache.join("bin/busybox").exists());
        }
        cache
    })
}

/// Copies the cached rootfs to `dest` (which must not exist). A full copy,
/// not hard links: some tests chown or modify their rootfs.
pub fn copy_rootfs(dest: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(cached_rootfs())
        .arg(dest)
        .status()
        .expect("cp -a");
    assert!(st.success(), "cp -a rootfs failed");
}
