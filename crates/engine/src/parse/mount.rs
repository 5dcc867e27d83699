//! `-v`, `--mount` and `--tmpfs` in Docker's syntaxes, normalised into [`MountSpec`].

use crate::error::{EngineError, Result};
use crate::model::{MountSpec, MountType};

/// What `-v` asked for: a mount, or (for `-v /path`) an anonymous volume.
#[derive(Debug, PartialEq, Eq)]
pub enum VolumeFlag {
    Mount(MountSpec),
    Anonymous { target: String, read_only: bool },
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn bad(flag: &str, s: &str, why: &str) -> EngineError {
    EngineError::invalid(format!("{flag} {s:?}"), why.to_string())
}

fn check_target(flag: &str, s: &str, t: &str) -> Result<()> {
    if !t.starts_with('/') {
        return Err(bad(flag, s, "the container path must be absolute"));
    }
    if t == "/" {
        return Err(bad(flag, s, "the container path cannot be /"));
    }
    Ok(())
}

/// `-v [SRC:]DST[:OPTS]`: SRC starting with `/` (or `.`) is a bind, otherwise a
/// named volume. OPTS: `ro`, `rw`, `z`, `Z` (accepted, no SELinux here), `nocopy`,
/// propagation modes.
pub fn parse_volume(s: &str) -> Result<VolumeFlag> {
    let parts: Vec<&str> = s.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [a, b] if b.starts_with('/') => (Some(*a), *b, ""),
        [d, o] => (None, *d, *o),
        [a, b, o] => (Some(*a), *b, *o),
        _ => return Err(bad("-v", s, "use [SOURCE:]DESTINATION[:OPTIONS]")),
    };
    check_target("-v", s, dst)?;
    let mut read_only = false;
    let mut propagation = String::new();
    let mut no_copy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" => {}
            "nocopy" => no_copy = true,
            p if PROPAGATIONS.contains(&p) => propagation = p.to_string(),
            _ => {
                return Err(bad(
                    "-v",
                    s,
                    &format!(
                        "unknown option {o:?}; use ro, rw, z, Z, nocopy or a propagation mode"
                    ),
                ))
            }
        }
    }
    let Some(src) = src else {
        return Ok(VolumeFlag::Anonymous {
            target: dst.into(),
            read_only,
        });
    };
    if src.is_empty() {
        return Err(bad("-v", s, "the source is empty"));
    }
    let is_bind = src.starts_with('/') || src.starts_with('.');
    if is_bind {
        let abs = std::path::absolute(src)
            .map_err(|e| bad("-v", s, &e.to_string()))?
            .to_string_lossy()
            .into_owned();
        Ok(VolumeFlag::Mount(MountSpec {
            kind: MountType::Bind,
            source: abs,
            target: dst.into(),
            read_only,
            propagation,
            create_host_path: true,
            ..Default::default()
        }))
    } else {
        crate::volumes::validate_name(src)?;
        if !propagation.is_empty() {
            return Err(bad("-v", s, "propagation modes apply to bind mounts only"));
        }
        Ok(VolumeFlag::Mount(MountSpec {
            kind: MountType::Volume,
            source: src.into(),
            target: dst.into(),
            read_only,
            no_copy,
            ..Default::default()
        }))
    }
}

/// `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,...`.
pub fn parse_mount(s: &str) -> Result<MountSpec> {
    let mut m = MountSpec {
        kind: MountType::Volume,
        ..Default::default()
    };
    for field in s.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        let flag = |v: Option<&str>| -> Result<bool> {
            match v {
                None | Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(_) => Err(bad("--mount", s, &format!("{k} takes true or false"))),
            }
        };
        let val = || v.ok_or_else(|| bad("--mount", s, &format!("{k} needs a value")));
        match k {
            "type" => {
                m.kind = match val()? {
                    "bind" => MountType::Bind,
                    "volume" => MountType::Volume,
                    "tmpfs" => MountType::Tmpfs,
                    t => {
                        return Err(bad(
                            "--mount",
                            s,
                            &format!("unsupported type {t:?}; use bind, volume or tmpfs"),
                        ))
                    }
                }
            }
            "source" | "src" => m.source = val()?.into(),
            "target" | "destination" | "dst" => m.target = val()?.into(),
            "readonly" | "ro" => m.read_only = flag(v)?,
            "bind-propagation" => {
                let p = val()?;
                if !PROPAGATIONS.contains(&p) {
                    return Err(bad("--mount", s, "unknown bind-propagation"));
                }
                m.propagation = p.into();
            }
            "volume-nocopy" => m.no_copy = flag(v)?,
            "tmpfs-size" => m.tmpfs_size = super::parse_size(val()?)?,
            "tmpfs-mode" => {
                m.tmpfs_mode = u32::from_str_radix(val()?, 8)
                    .map_err(|_| bad("--mount", s, "tmpfs-mode is an octal mode"))?
            }
            "consistency" | "bind-nonrecursive" | "volume-driver" | "volume-label" => {}
            _ => return Err(bad("--mount", s, &format!("unknown field {k:?}"))),
        }
    }
    check_target("--mount", s, &m.target)?;
    match m.kind {
        MountType::Bind => {
            if m.source.is_empty() {
                return Err(bad("--mount", s, "a bind mount needs a source"));
            }
            if !m.source.starts_with('/') {
                m.source = std::path::absolute(&m.source)
                    .map_err(|e| bad("--mount", s, &e.to_string()))?
                    .to_string_lossy()
                    .into_owned();
            }
        }
        MountType::Volume => {
            if !m.source.is_empty() {
                crate::volumes::validate_name(&m.source)?;
            }
        }
        MountType::Tmpfs => {
            if !m.source.is_empty() {
                return Err(bad("--mount", s, "a tmpfs mount takes no source"));
            }
        }
    }
    Ok(m)
}

/// `--tmpfs /path[:opts]` with mount options `size=`, `mode=`, `ro`.
pub fn parse_tmpfs(s: &str) -> Result<MountSpec> {
    let (target, opts) = s.split_once(':').unwrap_or((s, ""));
    check_target("--tmpfs", s, target)?;
    let mut m = MountSpec {
        kind: MountType::Tmpfs,
        target: target.into(),
        ..Default::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o.split_once('=') {
            Some(("size", v)) => m.tmpfs_size = super::parse_size(v)?,
            Some(("mode", v)) => {
                m.tmpfs_mode = u32::from_str_radix(v, 8)
                    .map_err(|_| bad("--tmpfs", s, "mode is an octal mode"))?
            }
            None if o == "ro" => m.read_only = true,
            None if matches!(o, "rw" | "noexec" | "exec" | "nosuid" | "nodev") => {}
            _ => return Err(bad("--tmpfs", s, &format!("unsupported option {o:?}"))),
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_v_forms() {
        assert_eq!(
            parse_volume("/data").unwrap(),
            VolumeFlag::Anonymous {
                target: "/data".into(),
                read_only: false
            }
        );
        let VolumeFlag::Mount(m) = parse_volume("/host:/c:ro,rshared").unwrap() else {
            panic!()
        };
        assert_eq!(m.kind, MountType::Bind);
        assert!(m.read_only);
        assert_eq!(m.propagation, "rshared");
        let VolumeFlag::Mount(m) = parse_volume("data:/c:Z").unwrap() else {
            panic!()
        };
        assert_eq!((m.kind, m.source.as_str()), (MountType::Volume, "data"));
        assert!(parse_volume("data:rel").is_err());
        assert!(parse_volume("/a:/b:bogus").is_err());
        assert!(parse_volume("/a:/").is_err());
    }

    #[test]
    fn mount_forms() {
        let m = parse_mount("type=bind,source=/tmp,target=/t,readonly").unwrap();
        assert_eq!((m.kind, m.read_only), (MountType::Bind, true));
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700").unwrap();
        assert_eq!((m.tmpfs_size, m.tmpfs_mode), (1 << 20, 0o700));
        let m = parse_mount("target=/v").unwrap();
        assert_eq!(m.kind, MountType::Volume);
        assert!(parse_mount("type=bind,target=/t").is_err());
        assert!(parse_mount("type=nfs,target=/t").is_err());
        assert!(parse_mount("type=bind,src=/a").is_err());
    }

    #[test]
    fn tmpfs_forms() {
        let m = parse_tmpfs("/run:size=64k,mode=1770").unwrap();
        assert_eq!((m.tmpfs_size, m.tmpfs_mode), (65536, 0o1770));
        assert!(parse_tmpfs("run").is_err());
    }
}
