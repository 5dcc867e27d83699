//! A reader that hashes what passes through it, so a blob's digest is checked in the
//! same pass that consumes it.

use std::io::Read;

use sha2::{Digest as _, Sha256};

pub struct DigestReader<R> {
    inner: R,
    /// None when the caller needs no digest: the bytes then pass through unhashed.
    hasher: Option<Sha256>,
    n: u64,
}

impl<R: Read> DigestReader<R> {
    pub fn hashing(inner: R, on: bool) -> Self {
        DigestReader {
            inner,
            hasher: on.then(Sha256::new),
            n: 0,
        }
    }

    /// `sha256:<hex>` of everything read so far (None if hashing was off), and its length.
    pub fn finish(self) -> (Option<String>, u64) {
        let d = self
            .hasher
            .map(|h| format!("sha256:{}", hex::encode(h.finalize())));
        (d, self.n)
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_it_reads() {
        let mut r = DigestReader::hashing(&b"abc"[..], true);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, 3);
        assert_eq!(
            d.unwrap(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hashing_off_passes_bytes_through() {
        let mut r = DigestReader::hashing(&b"abc"[..], false);
        let mut out = Vec::new();
        std::io::copy(&mut r, &mut out).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(r.finish(), (None, 3));
    }
}
