//! Where the state root lives and how its directories are laid out.

use std::ffi::{CStr, OsString};
use std::fs::DirBuilder;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

pub(crate) const BLOBS_DIR: &str = "blobs/sha256";
pub(crate) const LAYERS_DIR: &str = "layers";
pub(crate) const SNAPSHOTS_DIR: &str = "snapshots";
pub(crate) const TMP_DIR: &str = "tmp";
pub(crate) const DB_FILE: &str = "berth.db";

/// `/var/lib/berth` for root; `$XDG_DATA_HOME/berth` (default
/// `~/.local/share/berth`) for everyone else, like Podman.
pub fn default_root() -> PathBuf {
    root_for(
        rustix::process::geteuid().is_root(),
        std::env::var_os("XDG_DATA_HOME"),
        home_dir,
    )
}

fn root_for(
    is_root: bool,
    xdg_data_home: Option<OsString>,
    home: impl FnOnce() -> PathBuf,
) -> PathBuf {
    if is_root {
        return PathBuf::from("/var/lib/berth");
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = xdg_data_home.map(PathBuf::from) {
        if xdg.is_absolute() {
            return xdg.join("berth");
        }
    }
    home().join(".local/share/berth")
}

fn home_dir() -> PathBuf {
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(h) if h.is_absolute() => h,
        _ => passwd_home().unwrap_or_else(|| PathBuf::from("/")),
    }
}

/// Home directory from the password database, for when `$HOME` is unset
/// (e.g. under some service managers).
fn passwd_home() -> Option<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: all-zero bytes are a valid `passwd` (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `buf` outlives every use
        // of the strings `pwd` points into, and its length is passed.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success `pw_dir` is a NUL-terminated string inside `buf`,
        // which is still alive here.
        let dir = unsafe { CStr::from_ptr(pwd.pw_dir) };
        let dir = PathBuf::from(OsString::from_vec(dir.to_bytes().to_vec()));
        return dir.is_absolute().then_some(dir);
    }
}

/// Creates `path` and any missing parents with mode 0700: the state root
/// holds image content and metadata of every user container, which other
/// users have no business reading.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    match DirBuilder::new().recursive(true).mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(StoreError::io("create directory", path, e)),
    }
}

pub(crate) fn create_layout(root: &Path) -> Result<(), StoreError> {
    create_private_dir(root)?;
    for sub in [BLOBS_DIR, LAYERS_DIR, SNAPSHOTS_DIR, TMP_DIR] {
        create_private_dir(&root.join(sub))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_is_absolute() {
        let r = default_root();
        assert!(r.is_absolute(), "{}", r.display());
        assert!(r.ends_with("berth"));
    }

    #[test]
    fn rootless_root_follows_xdg_then_home() {
        let home = || PathBuf::from("/home/u");
        let xdg = |s: &str| Some(OsString::from(s));
        assert_eq!(root_for(true, xdg("/d"), home), Path::new("/var/lib/berth"));
        assert_eq!(root_for(false, xdg("/d"), home), Path::new("/d/berth"));
        let fallback = Path::new("/home/u/.local/share/berth");
        assert_eq!(root_for(false, xdg("rel"), home), fallback);
        assert_eq!(root_for(false, xdg(""), home), fallback);
        assert_eq!(root_for(false, None, home), fallback);
    }
}
