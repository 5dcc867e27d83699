use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::StoreError;

const PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A content digest, always in the canonical form `sha256:<64 lowercase hex>`.
///
/// Only sha256 is accepted: it is what every registry and OCI image uses, and
/// accepting other spellings (uppercase, other algorithms) would let one blob
/// live under two names.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, StoreError> {
        let bad = |reason| StoreError::InvalidDigest {
            input: s.to_owned(),
            reason,
        };
        let (algo, hex) = s
            .split_once(':')
            .ok_or_else(|| bad("missing algorithm prefix"))?;
        if algo != "sha256" {
            return Err(bad("unsupported algorithm, only sha256 is supported"));
        }
        if hex.len() != HEX_LEN {
            return Err(bad("wrong length"));
        }
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("not lowercase hex"));
        }
        Ok(Digest(s.to_owned()))
    }

    /// Builds a digest from a raw sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest(format!("{PREFIX}{}", hex::encode(hash)))
    }

    pub fn of_bytes(b: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(b).into())
    }

    pub fn algorithm(&self) -> &str {
        "sha256"
    }

    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 12-hex-character form shown in listings, as Docker does.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A `Write` adapter that hashes and counts exactly the bytes the inner
/// writer accepted (so short writes are not over-counted).
pub struct DigestWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes accepted so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Returns the inner writer (not flushed: callers decide), the digest and
    /// the byte count.
    pub fn finish(self) -> (W, Digest, u64) {
        let digest = Digest::from_sha256(self.hasher.finalize().into());
        (self.inner, digest, self.len)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_canonical_digest() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.hex(), &EMPTY[7..]);
        assert_eq!(d.as_str(), EMPTY);
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(EMPTY.parse::<Digest>().unwrap(), d);
        assert_eq!(Digest::of_bytes(b""), d);
    }

    #[test]
    fn rejects_bad_digests() {
        let upper = EMPTY.to_uppercase().replace("SHA256", "sha256");
        let cases = [
            "",
            "sha256",
            &EMPTY[7..],
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            &upper,
            "sha256:e3b0c44298fc",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:../0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ];
        for c in cases {
            let err = Digest::parse(c).expect_err(c);
            assert!(
                matches!(err, StoreError::InvalidDigest { .. }),
                "{c}: {err}"
            );
        }
    }

    #[test]
    fn serde_roundtrip_as_string() {
        let d = Digest::of_bytes(b"hello");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:abc\"").is_err());
    }

    #[test]
    fn digest_writer_hashes_what_passes_through() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let (buf, d, n) = w.finish();
        assert_eq!(buf, b"hello world");
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of_bytes(b"hello world"));
        assert_eq!(
            d.hex(),
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
    }
}
