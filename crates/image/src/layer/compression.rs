//! Layer blobs come gzip- or zstd-compressed or plain; the media type is not
//! always trustworthy (docker save archives, hand-made tars), so the magic
//! bytes decide.

use std::io::{self, BufRead, BufReader, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Compression of a stream judged by its first bytes (4 are enough).
pub fn detect(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if prefix.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Buffer size below the decompressor: big reads keep the syscall count low
/// for page-cache input.
const INPUT_BUF: usize = 256 * 1024;

/// Wrap `r` in the decompressor its magic calls for (or none).
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(INPUT_BUF, r);
    // A pipe may deliver fewer than 4 bytes at first: collect the magic
    // with as many reads as it takes, then put it back in front.
    let mut magic = Vec::with_capacity(ZSTD_MAGIC.len());
    while magic.len() < ZSTD_MAGIC.len() {
        let buf = br.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(ZSTD_MAGIC.len() - magic.len());
        magic.extend_from_slice(&buf[..n]);
        br.consume(n);
    }
    let kind = detect(&magic);
    let stream = io::Cursor::new(magic).chain(br);
    Ok(match kind {
        // Multi-member: some tools concatenate gzip members, and Go's reader
        // (what registries and containerd use) accepts that.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(stream)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(stream)?),
        Compression::None => Box::new(stream),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one byte per read, like a slow pipe.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    #[test]
    fn magic_split_over_reads() {
        let z = zstd::encode_all(&b"hello zstd"[..], 1).unwrap();
        let mut out = Vec::new();
        decompress(Trickle(&z))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello zstd");
        let mut out = Vec::new();
        decompress(Trickle(b"ab"))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"ab");
    }
}
