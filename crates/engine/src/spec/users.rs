//! Resolves `--user` (`name`, `uid`, `name:group`, `uid:gid`) against the container's
//! own /etc/passwd and /etc/group, read through the rootfs without following a symlink
//! out of it, as Docker does when the container starts.

use std::io::Read;
use std::path::Path;

use berth_safepath::Root;
use rustix::fs::OFlags;

use crate::error::{EngineError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_in_root(root: &Root, path: &str) -> String {
    let Ok(fd) = root.open_at(Path::new(path), OFlags::RDONLY, 0) else {
        return String::new();
    };
    let mut s = String::new();
    let _ = std::fs::File::from(fd).take(4 << 20).read_to_string(&mut s);
    s
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// `group_add` entries are group names or numbers, as `--group-add`.
pub fn resolve(rootfs: &Path, user: &str, group_add: &[String]) -> Result<ResolvedUser> {
    let root = Root::open(rootfs).map_err(|e| {
        EngineError::invalid(
            format!("root filesystem {}", rootfs.display()),
            e.to_string(),
        )
    })?;
    let passwd = parse_passwd(&read_in_root(&root, "etc/passwd"));
    let groups = parse_group(&read_in_root(&root, "etc/group"));
    resolve_with(&passwd, &groups, user, group_add)
}

fn resolve_with(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    user: &str,
    group_add: &[String],
) -> Result<ResolvedUser> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd.iter().find(|p| p.name == u).or_else(|| {
        u.parse::<u32>()
            .ok()
            .and_then(|n| passwd.iter().find(|p| p.uid == n))
    });
    let (uid, mut gid, home, name) = match (entry, u.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
        (None, Ok(n)) => (n, 0, "/".to_string(), None),
        (None, Err(_)) => {
            return Err(EngineError::invalid(
                format!("user {u:?}"),
                "no matching entries in the container's /etc/passwd; use a numeric uid",
            ))
        }
    };
    let find_group = |g: &str| -> Result<u32> {
        if let Some(e) = groups.iter().find(|e| e.name == g) {
            return Ok(e.gid);
        }
        g.parse::<u32>().map_err(|_| {
            EngineError::invalid(
                format!("group {g:?}"),
                "no matching entries in the container's /etc/group; use a numeric gid",
            )
        })
    };
    let mut additional = Vec::new();
    if let Some(g) = g {
        gid = find_group(g)?;
    } else if let Some(name) = &name {
        // Supplementary groups come from /etc/group only when no group was given,
        // as Docker does.
        for e in groups
            .iter()
            .filter(|e| e.members.iter().any(|m| m == name))
        {
            if e.gid != gid && !additional.contains(&e.gid) {
                additional.push(e.gid);
            }
        }
    }
    for g in group_add {
        let id = find_group(g)?;
        if !additional.contains(&id) {
            additional.push(id);
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home: if home.is_empty() { "/".into() } else { home },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nusers:x:100:bob\nwheel:x:10:bob,www\nbob:x:1000:\n";

    fn r(user: &str, add: &[&str]) -> Result<ResolvedUser> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_with(&parse_passwd(PASSWD), &parse_group(GROUP), user, &add)
    }

    #[test]
    fn names_and_numbers() {
        let u = r("", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        let u = r("bob", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![100, 10]);
        let u = r("33", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (33, 33, "/var/www"));
        let u = r("4242:4343", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let u = r("bob:www", &["wheel", "77"]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 33));
        assert_eq!(u.additional_gids, vec![10, 77]);
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(r("nobody-here", &[]).is_err());
        assert!(r("bob:nogroup", &[]).is_err());
        assert!(r("bob", &["nogroup"]).is_err());
    }
}
