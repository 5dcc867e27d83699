//! Image references normalised as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/x` keeps its registry, and a digest may
//! stand alone (`name@sha256:...`) or follow a tag (`name:tag@sha256:...`).

use crate::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

const DEFAULT_REGISTRY: &str = "docker.io";
const MAX_NAME: usize = 255;

/// `[a-z0-9]+` runs joined by the distribution grammar's separators (`.`, `_`,
/// `__`, or any number of `-`).
fn path_component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A registry host: DNS labels separated by dots, or a bracketed IPv6 address, with
/// an optional numeric port.
fn domain_ok(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, tail)) => {
                if ip.is_empty() || !ip.bytes().all(|x| x.is_ascii_hexdigit() || x == b':') {
                    return false;
                }
                (
                    None,
                    tail.strip_prefix(':')
                        .map(Some)
                        .unwrap_or(if tail.is_empty() { None } else { Some("x") }),
                )
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()) {
            return false;
        }
    }
    match host {
        None => true,
        Some(h) => {
            !h.is_empty()
                && h.split('.').all(|l| {
                    let b = l.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                })
        }
    }
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

fn digest_ok(d: &str) -> Result<(), String> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err("a digest is ALGORITHM:HEX".into());
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|x| x.is_ascii_lowercase() || x.is_ascii_digit())
        });
    if !alg_ok {
        return Err(format!("invalid digest algorithm {alg:?}"));
    }
    let want = match alg {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    let hex_ok = hex.len() >= 32
        && hex
            .bytes()
            .all(|x| x.is_ascii_digit() || (b'a'..=b'f').contains(&x))
        && want.is_none_or(|n| hex.len() == n);
    if !hex_ok {
        return Err(format!(
            "invalid {alg} digest: wrong length or not lowercase hex"
        ));
    }
    Ok(())
}

impl ImageRef {
    /// Parses a reference by the distribution grammar, by hand: the grammar is
    /// small, and compiling the equivalent regular expression cost every command
    /// that names an image tens of milliseconds.
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        let invalid = |why: &str| ImageError::InvalidReference {
            reference: s.to_string(),
            why: why.to_string(),
        };
        if s.is_empty() {
            return Err(invalid("the reference is empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                digest_ok(d).map_err(|w| invalid(&w))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        // A tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            if !tag_ok(t) {
                return Err(invalid(
                    "a tag is up to 128 of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        if name.is_empty() {
            return Err(invalid("the repository name is empty"));
        }
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                if !domain_ok(first) {
                    return Err(invalid("invalid registry host"));
                }
                (first.to_string(), rest.to_string())
            }
            _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(invalid("repository names must be lowercase"));
        }
        if !path.split('/').all(path_component_ok) {
            return Err(invalid(
                "repository path components are lowercase letters and digits joined by ., _, __ or -",
            ));
        }
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > MAX_NAME {
            return Err(invalid("the repository name is longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some("latest".to_string()),
            (None, Some(_)) => None,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// `registry/repository`, the key under which tags are stored.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The canonical tagged form stored in the tags table (`docker.io/library/x:latest`).
    pub fn tagged(&self) -> Option<String> {
        self.tag.as_ref().map(|t| format!("{}:{t}", self.name()))
    }

    pub fn canonical(&self) -> String {
        let mut s = self.name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// The short, Docker-style display form of a repository name: `docker.io/library/x`
/// shows as `x`, `docker.io/u/x` as `u/x`, anything else unchanged.
pub fn familiar(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("docker.io/library/") {
        if !rest.contains('/') {
            return rest.to_string();
        }
    }
    name.strip_prefix("docker.io/").unwrap_or(name).to_string()
}

/// Splits a stored tag (`registry/repo:tag`) into repository and tag.
pub fn split_tag(full: &str) -> (&str, &str) {
    match full.rfind(':') {
        Some(i) if !full[i..].contains('/') => (&full[..i], &full[i + 1..]),
        _ => (full, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_normalisation() {
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(r.tagged().unwrap(), "docker.io/library/busybox:latest");
        let r = ImageRef::parse("localhost:5000/team/app:v1").unwrap();
        assert_eq!(r.tagged().unwrap(), "localhost:5000/team/app:v1");
        let r = ImageRef::parse("user/app").unwrap();
        assert_eq!(r.tagged().unwrap(), "docker.io/user/app:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        let r = ImageRef::parse(&format!("busybox:1.36@{d}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1.36"));
    }

    #[test]
    fn invalid_references_are_explained() {
        for bad in [
            "",
            "UPPER",
            "a b",
            "busybox@sha256:abc",
            "x::y",
            "a//b",
            "-a",
            "a-",
            "a:-x",
            "localhost:x/a",
            "Docker.io/a/B",
        ] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid reference"), "{bad}: {e}");
        }
    }

    #[test]
    fn grammar_corners() {
        let r = ImageRef::parse("my-registry.io:5000/a/b.c__d-e:v1.2_3").unwrap();
        assert_eq!(r.registry, "my-registry.io:5000");
        assert_eq!(r.repository, "a/b.c__d-e");
        assert_eq!(r.tag.as_deref(), Some("v1.2_3"));
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "app")
        );
        let r = ImageRef::parse("[::1]:5000/app").unwrap();
        assert_eq!(r.registry, "[::1]:5000");
        let r = ImageRef::parse("a---b").unwrap();
        assert_eq!(r.repository, "library/a---b");
        assert!(ImageRef::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("docker.io/library/busybox"), "busybox");
        assert_eq!(familiar("docker.io/user/app"), "user/app");
        assert_eq!(familiar("localhost/busybox"), "localhost/busybox");
        assert_eq!(split_tag("localhost:5000/a:v1"), ("localhost:5000/a", "v1"));
        assert_eq!(split_tag("localhost:5000/a"), ("localhost:5000/a", ""));
    }
}
