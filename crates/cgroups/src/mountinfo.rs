//! Finding cgroup v1 hierarchies and this process's own cgroups.
//!
//! Hierarchy names are read from /proc/self/mountinfo instead of assumed,
//! because hosts differ: some co-mount "cpu,cpuacct" (with cpu and cpuacct
//! symlinks next to it), some mount them separately, named hierarchies such
//! as name=systemd have no controller at all.

use std::path::{Path, PathBuf};

use crate::error::CgroupError;

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// Directory name of the mount point, e.g. "memory", "cpu,cpuacct", "systemd".
    pub name: String,
    pub mount_point: PathBuf,
    /// Path inside the hierarchy that is mounted there ("/" on the host,
    /// something deeper inside a container).
    pub mount_root: PathBuf,
    /// Controllers attached, with named hierarchies as "name=systemd".
    pub controllers: Vec<String>,
}

/// mountinfo escapes space, tab, newline and backslash as \ooo octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every mount point in mountinfo `content` (field 5, unescaped), in mount order.
pub fn mount_points(content: &str) -> Vec<PathBuf> {
    content
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect()
}

/// Returns the cgroup v1 mounts whose mount point is a direct child of
/// `root`, first mount of each hierarchy only.
pub fn parse_v1_mounts(
    content: &str,
    root: &Path,
    source: &Path,
) -> Result<Vec<V1Mount>, CgroupError> {
    let mut out: Vec<V1Mount> = Vec::new();
    for line in content.lines().filter(|l| !l.is_empty()) {
        let bad = |reason: &str| CgroupError::Parse {
            path: source.to_path_buf(),
            line: line.to_string(),
            reason: reason.to_string(),
        };
        let (pre, post) = line
            .split_once(" - ")
            .ok_or_else(|| bad("missing \" - \" separator"))?;
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 6 || post.len() < 3 {
            return Err(bad("too few fields"));
        }
        if post[0] != "cgroup" {
            continue;
        }
        let mount_point = PathBuf::from(unescape(pre[4]));
        if mount_point.parent() != Some(root) {
            continue;
        }
        let Some(name) = mount_point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        let controllers: Vec<String> = post[2]
            .split(',')
            .filter(|o| is_controller_option(o))
            .map(str::to_string)
            .collect();
        if out.iter().any(|m| m.controllers == controllers) {
            continue;
        }
        out.push(V1Mount {
            name,
            mount_point,
            mount_root: PathBuf::from(unescape(pre[3])),
            controllers,
        });
    }
    Ok(out)
}

/// Super options of a v1 mount mix controllers with flags like "rw",
/// "xattr", "release_agent=...": keep only controller names.
fn is_controller_option(o: &str) -> bool {
    const NOT_CONTROLLERS: &[&str] = &[
        "rw",
        "ro",
        "noprefix",
        "xattr",
        "clone_children",
        "cpuset_v2_mode",
        "favordynmods",
        "none",
    ];
    if o.starts_with("name=") {
        return true;
    }
    !o.contains('=') && !NOT_CONTROLLERS.contains(&o)
}

/// One line of /proc/<pid>/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroup {
    pub hierarchy_id: u32,
    /// Empty for the v2 entry ("0::/path").
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

pub fn parse_proc_cgroup(content: &str, source: &Path) -> Result<Vec<ProcCgroup>, CgroupError> {
    content
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut it = line.splitn(3, ':');
            let (Some(id), Some(ctl), Some(path)) = (it.next(), it.next(), it.next()) else {
                return Err(CgroupError::Parse {
                    path: source.to_path_buf(),
                    line: line.to_string(),
                    reason: "expected id:controllers:path".into(),
                });
            };
            Ok(ProcCgroup {
                hierarchy_id: id.parse().map_err(|_| CgroupError::Parse {
                    path: source.to_path_buf(),
                    line: line.to_string(),
                    reason: "hierarchy id is not a number".into(),
                })?,
                controllers: ctl
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_string)
                    .collect(),
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// Where a cgroup path from the spec lives inside a hierarchy mounted at
/// `mount_point`. Absolute paths are taken from the hierarchy root; relative
/// ones are placed under the caller's own cgroup (as runc does), which
/// `own` gives as seen in /proc/self/cgroup.
pub fn resolve(
    mount_point: &Path,
    mount_root: &Path,
    own: Option<&Path>,
    cgroups_path: &Path,
) -> PathBuf {
    if cgroups_path.is_absolute() {
        return mount_point.join(strip_root(cgroups_path));
    }
    let own = own.unwrap_or(Path::new("/"));
    // /proc/self/cgroup paths are relative to the hierarchy root, while the
    // mount may expose only a subtree of it.
    let own_rel = own.strip_prefix(mount_root).unwrap_or(own);
    mount_point.join(strip_root(own_rel)).join(cgroups_path)
}

pub(crate) fn strip_root(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped_in_order() {
        let info =
            "31 23 0:28 / /a rw - tmpfs tmpfs rw\n32 31 0:29 / /a/with\\040space rw - tmpfs t rw\n";
        assert_eq!(
            mount_points(info),
            vec![PathBuf::from("/a"), PathBuf::from("/a/with space")]
        );
    }

    const HOST: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 23 0:32 /x /mnt/memory\\040copy rw - cgroup cgroup rw,memory
";

    #[test]
    fn separate_hierarchies_and_hybrid_unified_ignored() {
        let m = parse_v1_mounts(HOST, Path::new("/sys/fs/cgroup"), Path::new("mi")).unwrap();
        let names: Vec<_> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "systemd"]);
        assert_eq!(m[3].controllers, ["name=systemd"]);
    }

    #[test]
    fn comounted_cpu_cpuacct() {
        let mi = "25 24 0:22 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct\n";
        let m = parse_v1_mounts(mi, Path::new("/sys/fs/cgroup"), Path::new("mi")).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "cpu,cpuacct");
        assert_eq!(m[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[0].mount_root, Path::new("/docker/abc"));
    }

    #[test]
    fn escaped_mount_point() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
    }

    #[test]
    fn proc_cgroup() {
        let c = parse_proc_cgroup(
            "4:memory:/a/b\n1:cpu,cpuacct:/\n0::/user.slice\n",
            Path::new("pc"),
        )
        .unwrap();
        assert_eq!(c[0].controllers, ["memory"]);
        assert_eq!(c[0].path, Path::new("/a/b"));
        assert_eq!(c[1].controllers, ["cpu", "cpuacct"]);
        assert!(c[2].controllers.is_empty());
    }

    #[test]
    fn resolve_paths() {
        let mp = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            resolve(
                mp,
                Path::new("/"),
                Some(Path::new("/own")),
                Path::new("/abs/c")
            ),
            Path::new("/sys/fs/cgroup/memory/abs/c")
        );
        assert_eq!(
            resolve(
                mp,
                Path::new("/"),
                Some(Path::new("/own")),
                Path::new("rel/c")
            ),
            Path::new("/sys/fs/cgroup/memory/own/rel/c")
        );
        assert_eq!(
            resolve(
                mp,
                Path::new("/docker/x"),
                Some(Path::new("/docker/x/sub")),
                Path::new("c")
            ),
            Path::new("/sys/fs/cgroup/memory/sub/c")
        );
    }
}
