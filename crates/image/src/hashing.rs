//! A reader that hashes what passes through it, so a blob's digest is checked in the
//! same pass that consumes it.

use std::io::Read;

use sha2::{Digest as _, Sha256};

pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    n: u64,
}

impl<R: Read> DigestReader<R> {
    pub fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }

    /// `sha256:<hex>` of everything read so far, and its length.
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.n,
        )
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_it_reads() {
        let mut r = DigestReader::new(&b"abc"[..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        let (d, n) = r.finish();
        assert_eq!(n, 3);
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
