//! Image references normalised as Docker does: `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/x` keeps its registry, and a digest may
//! stand alone (`name@sha256:...`) or follow a tag (`name:tag@sha256:...`).

use oci_spec::distribution::Reference;

use crate::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef, ImageError> {
        let invalid = |why: String| ImageError::InvalidReference {
            reference: s.to_string(),
            why,
        };
        if s.chars().any(|c| c.is_ascii_uppercase()) && !s.contains(':') {
            return Err(invalid("repository names must be lowercase".into()));
        }
        let r: Reference = s
            .parse()
            .map_err(|e: oci_spec::distribution::ParseError| invalid(e.to_string()))?;
        let repo_has_upper = r.repository().chars().any(|c| c.is_ascii_uppercase());
        if repo_has_upper {
            return Err(invalid("repository names must be lowercase".into()));
        }
        let digest = r.digest().map(str::to_string);
        // A bare digest reference has no tag; oci-spec adds "latest" only without one.
        let tag = r
            .tag()
            .map(str::to_string)
            .filter(|_| digest.is_none() || s_has_tag(s));
        Ok(ImageRef {
            registry: r.registry().to_string(),
            repository: r.repository().to_string(),
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

fn s_has_tag(s: &str) -> bool {
    let before_digest = s.split('@').next().unwrap_or(s);
    let last = before_digest.rsplit('/').next().unwrap_or(before_digest);
    last.contains(':')
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
        for bad in ["", "UPPER", "a b", "busybox@sha256:abc", "x::y"] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid reference"), "{bad}: {e}");
        }
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
