//! `--chown=user[:group]` resolved against the destination's own /etc/passwd
//! and /etc/group, read inside its root (no symlink leads out), as BuildKit
//! does:
//! - a number is used as is, whether or not the files know it;
//! - a user name must be in /etc/passwd, a group name in /etc/group;
//! - with no group, a user name brings its primary group from /etc/passwd, and
//!   a bare number is used for the group as well (`--chown=1000` is 1000:1000).
//!
//! (berth-engine's `--user` resolver does more — supplementary groups, home —
//! and lives in the engine, which this crate must not depend on.)

use std::io::Read;
use std::path::Path;

use berth_safepath::{OFlags, Root};

use crate::error::{BuildError, Result};

/// A numeric owner for copied files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl Owner {
    pub const ROOT: Owner = Owner { uid: 0, gid: 0 };
}

/// Read an /etc file inside `root`; a missing one reads as empty.
fn read_etc(root: &Root, path: &str) -> Result<String> {
    let fd = match root.open_at(Path::new(path), OFlags::RDONLY, 0) {
        Ok(fd) => fd,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(String::new())
        }
        Err(e) => {
            return Err(crate::error::path_err(format!(
                "reading /{path} of the image"
            ))(e))
        }
    };
    let mut s = String::new();
    std::fs::File::from(fd)
        .take(16 << 20)
        .read_to_string(&mut s)
        .map_err(crate::error::io_at("reading", root.path().join(path)))?;
    Ok(s)
}

/// (name, id, primary gid) of each well-formed line of a passwd or group file.
fn entries(text: &str, min_fields: usize) -> impl Iterator<Item = (&str, u32, Option<u32>)> {
    text.lines().filter_map(move |l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < min_fields || f[0].is_empty() {
            return None;
        }
        Some((
            f[0],
            f[2].parse().ok()?,
            f.get(3).and_then(|g| g.parse().ok()),
        ))
    })
}

/// Resolve `spec` (`user`, `user:group`, numbers or names) in `dest_root`.
pub fn resolve_chown(dest_root: &Path, spec: &str) -> Result<Owner> {
    let bad = |why: String| BuildError::Chown {
        spec: spec.to_string(),
        why,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) || group.is_some_and(|g| g.contains(':'))
    {
        return Err(bad("expected user, uid, user:group or uid:gid".into()));
    }
    let root = Root::open(dest_root).map_err(crate::error::path_err("opening the image root"))?;
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => (n, n),
        Err(_) => {
            let passwd = read_etc(&root, "etc/passwd")?;
            let (_, uid, gid) = entries(&passwd, 7)
                .find(|(n, _, _)| *n == user)
                .ok_or_else(|| bad(format!("no user {user:?} in the image's /etc/passwd")))?;
            (uid, gid.unwrap_or(uid))
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read_etc(&root, "etc/group")?;
                let found = entries(&groups, 3)
                    .find(|(n, _, _)| *n == g)
                    .map(|(_, gid, _)| gid);
                found.ok_or_else(|| bad(format!("no group {g:?} in the image's /etc/group")))?
            }
        },
    };
    Ok(Owner { uid, gid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn names_numbers_and_errors() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir(p.join("etc")).unwrap();
        fs::write(
            p.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1001::/home/bob:/bin/sh\nbroken\n",
        )
        .unwrap();
        fs::write(
            p.join("etc/group"),
            "root:x:0:\nstaff:x:50:bob\nbobs:x:1001:\n",
        )
        .unwrap();
        let r = |s: &str| resolve_chown(p, s);
        assert_eq!(
            r("bob").unwrap(),
            Owner {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(r("bob:staff").unwrap(), Owner { uid: 1000, gid: 50 });
        assert_eq!(
            r("1000").unwrap(),
            Owner {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(r("4242:staff").unwrap(), Owner { uid: 4242, gid: 50 });
        assert_eq!(r("bob:77").unwrap(), Owner { uid: 1000, gid: 77 });
        assert_eq!(r("0:0").unwrap(), Owner::ROOT);
        for s in ["nobody", "bob:nogroup", "", ":1", "1:", "a:b:c", "broken"] {
            assert!(r(s).is_err(), "{s:?}");
        }
        assert_eq!(
            r("nobody").unwrap_err().to_string(),
            "--chown=nobody: no user \"nobody\" in the image's /etc/passwd"
        );
    }

    #[test]
    fn etc_symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(outside.path().join("etc")).unwrap();
        fs::write(
            outside.path().join("etc/passwd"),
            "evil:x:666:666::/:/bin/sh\n",
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path().join("etc"), t.path().join("etc")).unwrap();
        assert!(resolve_chown(t.path(), "evil").is_err());
        assert_eq!(
            resolve_chown(t.path(), "5").unwrap(),
            Owner { uid: 5, gid: 5 }
        );
    }
}
