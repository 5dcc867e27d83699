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
    // fill_buf may return fewer than 4 bytes from a pipe; keep reading
    // until we can decide without consuming anything.
    let kind = peek_kind(&mut br)?;
    Ok(match kind {
        // Multi-member: some tools concatenate gzip members, and Go's reader
        // (what registries and containerd use) accepts that.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
        Compression::None => Box::new(br),
    })
}

fn peek_kind<R: Read>(br: &mut BufReader<R>) -> io::Result<Compression> {
    let buf = br.fill_buf()?;
    if buf.len() >= ZSTD_MAGIC.len() || buf.is_empty() {
        return Ok(detect(buf));
    }
    // Rare: a short first read. A BufReader cannot be topped up without
    // consuming, so decide on what we have when it is unambiguous.
    if buf.len() >= 2 && buf.starts_with(&GZIP_MAGIC) {
        return Ok(Compression::Gzip);
    }
    if ZSTD_MAGIC.starts_with(buf) {
        // Could be zstd with a 1-3 byte first read; tar headers never start
        // with 0x28 0xb5, so guessing zstd is harmless if wrong (it errors).
        return Ok(Compression::Zstd);
    }
    Ok(detect(buf))
}
