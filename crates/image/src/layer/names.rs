//! Policy for entry names (and hard link targets): leading '/' is dropped
//! and "." components ignored, like Docker; ".." is applied lexically and an
//! entry that would climb above the root is rejected with an error, never
//! silently clamped, because a layer that tries that is broken or hostile.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Longest entry name accepted (PATH_MAX), before cleaning.
pub const MAX_NAME: usize = 4096;
/// Longest single component (NAME_MAX).
pub const MAX_COMPONENT: usize = 255;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NameError {
    Escapes,
    TooLong { len: usize, limit: usize },
    Nul,
}

/// Clean `raw` into a path relative to the root; the empty path is the root
/// itself (entries like "./").
pub(crate) fn clean(raw: &[u8]) -> Result<PathBuf, NameError> {
    if raw.len() > MAX_NAME {
        return Err(NameError::TooLong {
            len: raw.len(),
            limit: MAX_NAME,
        });
    }
    if raw.contains(&0) {
        return Err(NameError::Nul);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(NameError::Escapes);
                }
            }
            c if c.len() > MAX_COMPONENT => {
                return Err(NameError::TooLong {
                    len: c.len(),
                    limit: MAX_COMPONENT,
                })
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(p);
    }
    Ok(PathBuf::from(OsStr::from_bytes(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        let ok = |s: &str| clean(s.as_bytes()).unwrap().to_str().unwrap().to_string();
        assert_eq!(ok("/etc/passwd"), "etc/passwd");
        assert_eq!(ok("./a//b/./c/"), "a/b/c");
        assert_eq!(ok("a/b/../c"), "a/c");
        assert_eq!(ok("./"), "");
        assert_eq!(clean(b"../etc/passwd"), Err(NameError::Escapes));
        assert_eq!(clean(b"a/../../x"), Err(NameError::Escapes));
        assert_eq!(clean(b"/.."), Err(NameError::Escapes));
        assert!(matches!(
            clean(&[b'a'; 300]),
            Err(NameError::TooLong { limit: 255, .. })
        ));
    }
}
