//! `RUN --mount=type=...,key=value` specifications.

use crate::expand::ExpandError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// One `--mount`, with BuildKit's defaults applied: bind, secret and ssh
/// mounts are read-only unless `rw`; a secret's id defaults to its target's
/// base name and its target to `/run/secrets/<id>` (unless `env=` is given);
/// an ssh mount's id defaults to `default`.
///
/// String values are as written: if [`Mount::needs_expansion`], call
/// [`Mount::expand`] at execution time, which re-parses `spec` with every value
/// expanded (numbers written as variables are only checked then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The flag's value as written, for re-parsing after expansion.
    pub spec: String,
    pub kind: MountType,
    /// `target=`, `dst=`, `destination=`. For ssh mounts BuildKit picks
    /// `/run/buildkit/ssh_agent.N` when absent.
    pub target: Option<String>,
    /// `source=`, `src=`: path in `from` (bind, cache) or nothing.
    pub source: Option<String>,
    /// `from=`: a stage name or index, or an image (see
    /// [`crate::Dockerfile::resolve_from`]).
    pub from: Option<String>,
    /// `id=`: the cache id (BuildKit uses the target when absent), secret id
    /// or ssh agent id.
    pub id: Option<String>,
    pub sharing: CacheSharing,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub readonly: bool,
    /// `required`: a missing secret or ssh agent fails the build.
    pub required: bool,
    /// `size=` of a tmpfs mount, in bytes (`64m` = 64 MiB, like Docker).
    pub size: Option<u64>,
    /// `env=`: expose a secret as this environment variable.
    pub env: Option<String>,
}

/// A `--mount` value that does not describe a valid mount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --mount={spec}: {message}")]
pub struct MountError {
    pub spec: String,
    pub message: String,
}

impl Mount {
    /// Whether some value contains `$` and must be expanded before use.
    pub fn needs_expansion(&self) -> bool {
        self.spec.contains('$')
    }

    /// Re-parses `spec` with every value passed through `expand` (usually
    /// `|w| expand_word(w, &env, escape)`).
    pub fn expand(
        &self,
        expand: &mut dyn FnMut(&str) -> Result<String, ExpandError>,
    ) -> Result<Mount, MountError> {
        parse(&self.spec, Some(expand))
    }
}

/// Parses a `--mount` value without expanding anything; values that contain
/// `$` are kept as written and only validated by [`Mount::expand`].
pub fn parse_mount(spec: &str) -> Result<Mount, MountError> {
    parse(spec, None)
}

type Expander<'a> = Option<&'a mut dyn FnMut(&str) -> Result<String, ExpandError>>;

fn parse(spec: &str, mut expand: Expander<'_>) -> Result<Mount, MountError> {
    let fail = |message: String| MountError {
        spec: crate::error::clip(spec),
        message,
    };
    let fields = csv_fields(spec).map_err(fail)?;
    let mut m = Mount {
        spec: spec.to_string(),
        kind: MountType::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: CacheSharing::Shared,
        mode: None,
        uid: None,
        gid: None,
        readonly: false,
        required: false,
        size: None,
        env: None,
    };
    for field in &fields {
        if let Some((k, v)) = field.split_once('=') {
            if k.eq_ignore_ascii_case("type") {
                m.kind = match v {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    other => {
                        return Err(fail(format!(
                        "unsupported mount type {:?} (expected bind, cache, tmpfs, secret or ssh)",
                        crate::error::clip(other)
                    )))
                    }
                };
            }
        }
    }
    let kind_name = format!("{:?}", m.kind).to_lowercase();
    let mut readonly: Option<bool> = None;
    for field in &fields {
        let Some((key, value)) = field.split_once('=') else {
            match field.to_ascii_lowercase().as_str() {
                "readonly" | "ro" => readonly = Some(true),
                "readwrite" | "rw" => readonly = Some(false),
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true
                }
                "required" => {
                    return Err(fail(format!(
                        "unexpected key 'required' for mount type '{kind_name}'"
                    )))
                }
                _ => {
                    return Err(fail(format!(
                        "invalid field '{}' must be a key=value pair",
                        crate::error::clip(field)
                    )))
                }
            }
            continue;
        };
        let key = key.to_ascii_lowercase();
        let value = match expand.as_mut() {
            Some(f) => f(value).map_err(|e| fail(e.to_string()))?,
            None if key == "from" && value.contains(['$', '{']) => {
                return Err(fail(
                    "'from' doesn't support variable expansion, define alias stage instead".into(),
                ))
            }
            None => value.to_string(),
        };
        let deferred = expand.is_none() && value.contains('$');
        let boolean = |v: &str| {
            crate::flags::parse_go_bool(v).ok_or_else(|| {
                fail(format!(
                    "invalid value {:?} for {key}: expected true or false",
                    crate::error::clip(v)
                ))
            })
        };
        let number = |v: &str, radix: u32| {
            u32::from_str_radix(v, radix).map_err(|_| {
                fail(format!(
                    "invalid value {:?} for {key}: expected a number",
                    crate::error::clip(v)
                ))
            })
        };
        let only = |allowed: bool| {
            if allowed {
                Ok(())
            } else {
                Err(fail(format!(
                    "unexpected key '{key}' for mount type '{kind_name}'"
                )))
            }
        };
        match key.as_str() {
            "type" => {}
            "target" | "dst" | "destination" => m.target = Some(value),
            "source" | "src" => m.source = Some(value),
            "from" => m.from = Some(value),
            "id" => m.id = Some(value),
            "env" => {
                only(m.kind == MountType::Secret)?;
                m.env = Some(value)
            }
            _ if deferred => {}
            "readonly" | "ro" => readonly = Some(boolean(&value)?),
            "readwrite" | "rw" => readonly = Some(!boolean(&value)?),
            "required" => {
                only(matches!(m.kind, MountType::Secret | MountType::Ssh))?;
                m.required = boolean(&value)?
            }
            "sharing" => {
                if m.kind != MountType::Cache {
                    return Err(fail(format!(
                        "invalid cache sharing set for {kind_name} mount"
                    )));
                }
                m.sharing = match value.as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    other => {
                        return Err(fail(format!(
                            "unsupported cache sharing {:?} (expected shared, private or locked)",
                            crate::error::clip(other)
                        )))
                    }
                }
            }
            "mode" => m.mode = Some(number(&value, 8)?),
            "uid" => m.uid = Some(number(&value, 10)?),
            "gid" => m.gid = Some(number(&value, 10)?),
            "size" => {
                only(m.kind == MountType::Tmpfs)?;
                m.size = Some(ram_bytes(&value).ok_or_else(|| {
                    fail(format!(
                        "invalid size {:?}: expected bytes like 64m or 1g",
                        crate::error::clip(&value)
                    ))
                })?)
            }
            other => {
                return Err(fail(format!(
                    "unexpected key '{}' in '{}'",
                    crate::error::clip(other),
                    crate::error::clip(field)
                )))
            }
        }
    }
    m.readonly = readonly.unwrap_or(!matches!(m.kind, MountType::Cache | MountType::Tmpfs));
    match m.kind {
        MountType::Secret => {
            if m.id.is_none() {
                let base = m.target.as_deref().map(base_name).filter(|b| !b.is_empty());
                m.id = Some(
                    base.ok_or_else(|| fail("a secret mount needs id= or target=".into()))?
                        .to_string(),
                );
            }
            if m.target.is_none() && m.env.is_none() {
                m.target = Some(format!(
                    "/run/secrets/{}",
                    m.id.as_deref().unwrap_or_default()
                ));
            }
        }
        MountType::Ssh => {
            m.id.get_or_insert_with(|| "default".to_string());
        }
        _ if m.target.as_deref().is_none_or(str::is_empty) => {
            return Err(fail(format!("mount type {kind_name} requires target=")));
        }
        _ => {}
    }
    Ok(m)
}

fn base_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

/// Go's encoding/csv for one record: `,`-separated fields, a field may be
/// wholly double-quoted with `""` for a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(_) => return Err("extraneous character after a quoted field".into()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in a non-quoted field".into()),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Docker's units.RAMInBytes: `1024`, `64m`, `1.5g`, `2GiB`, `10 kb` (binary units).
fn ram_bytes(s: &str) -> Option<u64> {
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut u = unit.as_str();
    let shift = match u.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            u = &u[1..];
            10 * (1 + "kmgtp".find(c)?)
        }
        _ => 0,
    };
    let u = u.strip_prefix('i').unwrap_or(u);
    let u = u.strip_prefix('b').unwrap_or(u);
    if !u.is_empty() {
        return None;
    }
    let bytes = value * (1u64 << shift) as f64;
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

#[cfg(test)]
mod tests;
