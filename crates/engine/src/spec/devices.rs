//! `--device HOST[:CONTAINER[:PERMS]]` and `--privileged`'s host devices: the device
//! nodes to create in the container and the cgroup rules that allow them.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{json, Value};

use crate::error::{EngineError, Result};
use crate::model::DeviceMapping;

pub struct Devices {
    pub nodes: Vec<Value>,
    pub rules: Vec<Value>,
}

fn node(host: &Path, dest: &str, perms: &str) -> Result<Option<(Value, Value)>> {
    let md = std::fs::metadata(host).map_err(|e| {
        EngineError::invalid(
            format!("device {}", host.display()),
            format!("{e}; check the path on the host"),
        )
    })?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    Ok(Some((
        json!({"path": dest, "type": kind, "major": major, "minor": minor,
               "fileMode": md.mode() & 0o7777, "uid": md.uid(), "gid": md.gid()}),
        json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": perms}),
    )))
}

fn walk(dir: &Path, out: &mut Devices) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            // Pseudo-terminals belong to the container's own devpts.
            if p != Path::new("/dev/pts") && p != Path::new("/dev/shm") {
                walk(&p, out);
            }
        } else if ft.is_char_device() || ft.is_block_device() {
            let dest = p.to_string_lossy().into_owned();
            if matches!(dest.as_str(), "/dev/console" | "/dev/ptmx" | "/dev/tty") {
                continue;
            }
            if let Ok(Some((n, r))) = node(&p, &dest, "rwm") {
                out.nodes.push(n);
                out.rules.push(r);
            }
        }
    }
}

pub fn build(mappings: &[DeviceMapping], privileged: bool) -> Result<Devices> {
    let mut out = Devices {
        nodes: Vec::new(),
        rules: Vec::new(),
    };
    if privileged {
        walk(Path::new("/dev"), &mut out);
    }
    for m in mappings {
        let host = Path::new(&m.path_on_host);
        let dest = if m.path_in_container.is_empty() {
            &m.path_on_host
        } else {
            &m.path_in_container
        };
        let perms = if m.cgroup_permissions.is_empty() {
            "rwm"
        } else {
            &m.cgroup_permissions
        };
        match node(host, dest, perms)? {
            Some((n, r)) => {
                out.nodes.retain(|x| x["path"].as_str() != Some(dest));
                out.nodes.push(n);
                out.rules.push(r);
            }
            None => {
                return Err(EngineError::invalid(
                    format!("device {}", host.display()),
                    "it is not a character or block device",
                ))
            }
        }
    }
    Ok(out)
}

/// Parses `--device HOST[:CONTAINER][:PERMS]`.
pub fn parse(s: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = s.split(':').collect();
    let is_perms = |p: &str| !p.is_empty() && p.chars().all(|c| matches!(c, 'r' | 'w' | 'm'));
    let (host, dest, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, d] => (*h, *d, "rwm"),
        [h, d, p] if is_perms(p) => (*h, *d, *p),
        _ => {
            return Err(EngineError::invalid(
                format!("device {s:?}"),
                "use HOST[:CONTAINER][:PERMISSIONS] with permissions from r, w, m",
            ))
        }
    };
    if !host.starts_with('/') || !dest.starts_with('/') {
        return Err(EngineError::invalid(
            format!("device {s:?}"),
            "device paths must be absolute",
        ));
    }
    Ok(DeviceMapping {
        path_on_host: host.into(),
        path_in_container: dest.into(),
        cgroup_permissions: perms.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_forms() {
        let d = parse("/dev/null").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/null", "rwm")
        );
        let d = parse("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/mynull", "r")
        );
        let d = parse("/dev/null:rw").unwrap();
        assert_eq!(d.cgroup_permissions, "rw");
        assert!(parse("dev/null").is_err());
        assert!(parse("/dev/null:/x:q").is_err());
    }

    #[test]
    fn device_node_has_its_numbers() {
        let d = build(&[parse("/dev/null:/dev/mynull").unwrap()], false).unwrap();
        assert_eq!(d.nodes[0]["major"], json!(1));
        assert_eq!(d.nodes[0]["minor"], json!(3));
        assert_eq!(d.rules[0]["type"], json!("c"));
        assert!(build(&[parse("/etc/passwd").unwrap()], false).is_err());
    }
}
