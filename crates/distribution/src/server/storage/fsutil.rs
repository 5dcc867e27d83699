//! Small filesystem helpers: atomic replace, random names.

use std::io::{Read, Write};
use std::path::Path;

/// Writes `bytes` to `dest` via a temporary file in `tmp` and a rename, so
/// readers see the old content or the new, never a mix.
pub fn write_atomic(tmp: &Path, dest: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let staged = tmp.join(random_id());
    let result = (|| {
        let mut f = std::fs::File::create(&staged)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&staged, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&staged);
    }
    result
}

/// 128 random bits as hex: upload ids and staging names must not collide,
/// and upload ids must not be guessable by other clients.
pub fn random_id() -> String {
    let mut buf = [0u8; 16];
    // /dev/urandom never blocks and is always present on Linux; a failure here
    // means a broken system, where a time-based id is still unique enough.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        buf = t.to_le_bytes();
    }
    hex::encode(buf)
}

/// Fsyncs a directory so a rename into it survives a crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}
