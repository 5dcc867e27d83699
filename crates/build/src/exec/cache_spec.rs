//! `--cache-to` and `--cache-from` values, in BuildKit's syntax: comma-separated
//! `key=value` attributes led by `type=`, or a bare reference as the registry
//! shorthand. Parsed before anything runs, so a typo fails the command at once.

use std::path::PathBuf;

use berth_image::ImageRef;

use crate::error::{BuildError, Result};

/// Which steps an export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The steps that made the final image's layers (the target stage and the
    /// stages it is built FROM).
    #[default]
    Min,
    /// Every step of every stage the build ran.
    Max,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// An OCI image layout directory.
    Local(PathBuf),
    /// A registry reference, always with a tag (`latest` when none is given).
    Registry(ImageRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheToSpec {
    pub location: CacheLocation,
    pub mode: CacheMode,
    /// `ignore-error=true`: a failed export is a warning, not a failed build.
    pub ignore_error: bool,
}

const TO: &str = "--cache-to";
const FROM: &str = "--cache-from";

fn bad(flag: &'static str, value: &str, why: impl Into<String>) -> BuildError {
    BuildError::CacheFlag {
        flag,
        value: value.to_string(),
        why: why.into(),
    }
}

/// `key=value` pairs; a bare value (no `=`, no comma) is the registry shorthand.
fn attrs(flag: &'static str, value: &str) -> Result<Vec<(String, String)>> {
    if value.trim().is_empty() {
        return Err(bad(flag, value, "it is empty"));
    }
    if !value.contains('=') && !value.contains(',') {
        return Ok(vec![
            ("type".into(), "registry".into()),
            ("ref".into(), value.to_string()),
        ]);
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for part in value.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            return Err(bad(flag, value, format!("{part:?} is not key=value")));
        };
        let k = k.trim().to_ascii_lowercase();
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(flag, value, format!("{k}= is given twice")));
        }
        out.push((k, v.trim().to_string()));
    }
    Ok(out)
}

fn kind<'v>(flag: &'static str, value: &str, a: &'v [(String, String)]) -> Result<&'v str> {
    let t = a
        .iter()
        .find(|(k, _)| k == "type")
        .map_or("registry", |(_, v)| v.as_str());
    match t {
        "local" | "registry" => Ok(t),
        "inline" => Err(bad(
            flag,
            value,
            "type=inline (cache records inside the image) is not supported by berth; \
             use type=registry,ref=REF or type=local,dest=DIR",
        )),
        other => Err(bad(
            flag,
            value,
            format!("type={other} is not supported by berth; use type=local or type=registry"),
        )),
    }
}

fn reference(flag: &'static str, value: &str, r: &str) -> Result<ImageRef> {
    if r.is_empty() {
        return Err(bad(
            flag,
            value,
            "type=registry needs ref=REGISTRY/REPOSITORY[:TAG]",
        ));
    }
    let parsed = ImageRef::parse(r).map_err(|e| bad(flag, value, format!("ref={r}: {e}")))?;
    if parsed.digest.is_some() && flag == TO {
        return Err(bad(
            flag,
            value,
            format!("ref={r}: a cache is exported under a tag, not a digest"),
        ));
    }
    Ok(parsed)
}

fn boolean(flag: &'static str, value: &str, k: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(flag, value, format!("{k}={v}: use true or false"))),
    }
}

/// Parses one `--cache-to` value.
pub fn parse_cache_to(value: &str) -> Result<CacheToSpec> {
    let a = attrs(TO, value)?;
    let t = kind(TO, value, &a)?;
    let (mut dest, mut r) = (None, None);
    let mut mode = CacheMode::Min;
    let mut ignore_error = false;
    for (k, v) in &a {
        match (t, k.as_str()) {
            (_, "type") => {}
            ("local", "dest") => dest = Some(v.clone()),
            ("registry", "ref") => r = Some(v.clone()),
            (_, "mode") => {
                mode = match v.as_str() {
                    "min" => CacheMode::Min,
                    "max" => CacheMode::Max,
                    _ => return Err(bad(TO, value, format!("mode={v}: use min or max"))),
                }
            }
            (_, "ignore-error") => ignore_error = boolean(TO, value, k, v)?,
            // What berth writes anyway: an OCI image manifest of gzip layers.
            (_, "oci-mediatypes" | "image-manifest") => {
                if !boolean(TO, value, k, v)? {
                    return Err(bad(
                        TO,
                        value,
                        format!("{k}=false: berth exports an OCI image manifest only"),
                    ));
                }
            }
            (_, "compression") if v == "gzip" => {}
            (_, "compression") => {
                return Err(bad(
                    TO,
                    value,
                    format!("compression={v}: berth writes gzip only"),
                ))
            }
            _ => {
                let known = if t == "local" {
                    "type, dest, mode, ignore-error, compression, oci-mediatypes, image-manifest"
                } else {
                    "type, ref, mode, ignore-error, compression, oci-mediatypes, image-manifest"
                };
                return Err(bad(
                    TO,
                    value,
                    format!("unknown attribute {k}= for type={t} (known: {known})"),
                ));
            }
        }
    }
    let location = match t {
        "local" => match dest {
            Some(d) if !d.is_empty() => CacheLocation::Local(PathBuf::from(d)),
            _ => return Err(bad(TO, value, "type=local needs dest=DIR")),
        },
        _ => CacheLocation::Registry(reference(TO, value, r.as_deref().unwrap_or(""))?),
    };
    Ok(CacheToSpec {
        location,
        mode,
        ignore_error,
    })
}

/// Parses one `--cache-from` value.
pub fn parse_cache_from(value: &str) -> Result<CacheLocation> {
    let a = attrs(FROM, value)?;
    let t = kind(FROM, value, &a)?;
    let (mut src, mut r) = (None, None);
    for (k, v) in &a {
        match (t, k.as_str()) {
            (_, "type") => {}
            ("local", "src") => src = Some(v.clone()),
            ("registry", "ref") => r = Some(v.clone()),
            _ => {
                let known = if t == "local" {
                    "type, src"
                } else {
                    "type, ref"
                };
                return Err(bad(
                    FROM,
                    value,
                    format!("unknown attribute {k}= for type={t} (known: {known})"),
                ));
            }
        }
    }
    match t {
        "local" => match src {
            Some(s) if !s.is_empty() => Ok(CacheLocation::Local(PathBuf::from(s))),
            _ => Err(bad(FROM, value, "type=local needs src=DIR")),
        },
        _ => Ok(CacheLocation::Registry(reference(
            FROM,
            value,
            r.as_deref().unwrap_or(""),
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> CacheLocation {
        CacheLocation::Registry(ImageRef::parse(s).unwrap())
    }

    #[test]
    fn cache_to_forms() {
        let s = parse_cache_to("type=local,dest=/tmp/c").unwrap();
        assert_eq!(s.location, CacheLocation::Local("/tmp/c".into()));
        assert_eq!(s.mode, CacheMode::Min);
        assert!(!s.ignore_error);
        let s = parse_cache_to("type=registry,ref=127.0.0.1:5000/app:cache,mode=max").unwrap();
        assert_eq!(s.location, reg("127.0.0.1:5000/app:cache"));
        assert_eq!(s.mode, CacheMode::Max);
        let s = parse_cache_to("type=local,dest=d,mode=min,ignore-error=true,compression=gzip")
            .unwrap();
        assert!(s.ignore_error);
        // A bare reference and a missing type both mean the registry.
        assert_eq!(
            parse_cache_to("localhost:5000/x").unwrap().location,
            reg("localhost:5000/x:latest")
        );
        assert_eq!(
            parse_cache_to("ref=localhost:5000/x:c").unwrap().location,
            reg("localhost:5000/x:c")
        );
    }

    #[test]
    fn cache_from_forms() {
        assert_eq!(
            parse_cache_from("type=local,src=/c").unwrap(),
            CacheLocation::Local("/c".into())
        );
        assert_eq!(
            parse_cache_from("type=registry,ref=localhost:5000/a:b").unwrap(),
            reg("localhost:5000/a:b")
        );
        assert_eq!(
            parse_cache_from("localhost:5000/a").unwrap(),
            reg("localhost:5000/a:latest")
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let msg = |r: Result<CacheToSpec>| r.unwrap_err().to_string();
        assert!(msg(parse_cache_to("type=inline")).contains("type=inline"));
        assert!(msg(parse_cache_to("type=gha")).contains("type=gha is not supported"));
        assert!(msg(parse_cache_to("type=local")).contains("needs dest=DIR"));
        assert!(msg(parse_cache_to("type=local,dest=d,mode=all")).contains("use min or max"));
        assert!(msg(parse_cache_to("type=local,src=d")).contains("unknown attribute src="));
        assert!(msg(parse_cache_to("type=local,dest=a,dest=b")).contains("twice"));
        assert!(msg(parse_cache_to("type=registry")).contains("needs ref="));
        assert!(msg(parse_cache_to("type=registry,ref=UPPER/x")).contains("ref=UPPER/x"));
        assert!(msg(parse_cache_to("type=registry,ref=h:1/x@sha256:0000000000000000000000000000000000000000000000000000000000000000")).contains("not a digest"));
        assert!(msg(parse_cache_to("type=local,dest=d,compression=zstd")).contains("gzip only"));
        assert!(
            msg(parse_cache_to("type=local,dest=d,ignore-error=maybe")).contains("true or false")
        );
        assert!(msg(parse_cache_to("")).contains("empty"));
        assert!(msg(parse_cache_to("type=local,dest")).contains("not key=value"));
        let e = parse_cache_from("type=local,dest=d")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--cache-from") && e.contains("unknown attribute dest="),
            "{e}"
        );
        assert!(parse_cache_from("type=local")
            .unwrap_err()
            .to_string()
            .contains("src=DIR"));
        assert!(parse_cache_from("type=s3,bucket=x").is_err());
    }
}
