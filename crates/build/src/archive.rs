//! Tar archives as a build meets them: a context piped on stdin and a local
//! archive given to ADD. Either may be plain or compressed with gzip, bzip2, xz
//! or zstd; the magic bytes decide, never the file name. "Is it an archive?" is
//! answered as Docker does: it is one if, once decompressed, its first 512
//! bytes are a tar header with a valid checksum.
//!
//! Extraction goes through berth-image's hardened layer extractor (no entry
//! leaves the destination, symlinks are followed only inside it, hard links
//! only to what the archive already made there), with `.wh.*` names kept as
//! ordinary files: an archive is not an image layer.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use berth_image::layer::{self, ExtractOptions, Extracted, WhiteoutMode};

use crate::error::{BuildError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const BZIP2: &[u8] = b"BZh";
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// Enough bytes for every magic above.
const MAGIC_LEN: usize = 6;

/// The compression `prefix` (the first bytes of a stream) announces.
pub fn detect(prefix: &[u8]) -> Compression {
    if prefix.starts_with(GZIP) {
        Compression::Gzip
    } else if prefix.starts_with(BZIP2) {
        Compression::Bzip2
    } else if prefix.starts_with(XZ) {
        Compression::Xz
    } else if prefix.starts_with(ZSTD) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wrap `r` in the decompressor its first bytes call for (or none).
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    // A pipe may hand out fewer bytes than the magic at first.
    let mut magic = Vec::with_capacity(MAGIC_LEN);
    while magic.len() < MAGIC_LEN {
        let buf = br.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(MAGIC_LEN - magic.len());
        magic.extend_from_slice(&buf[..n]);
        br.consume(n);
    }
    let kind = detect(&magic);
    let stream = io::Cursor::new(magic).chain(br);
    let r: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(stream)),
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(stream, true)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(stream)?),
    };
    Ok((kind, r))
}

/// Is `block` a tar header (checksum valid, not the all-zero end marker)?
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block[..512].iter().all(|&b| b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .skip_while(|&&b| b == b' ')
        .map(|&b| b as char)
        .collect();
    let text = text.trim();
    let Ok(want) = u32::from_str_radix(text, 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

/// Is the stream `r` a (possibly compressed) tar archive? Reads at most the
/// first decompressed block; `None` when it is not.
pub fn sniff(r: impl Read) -> io::Result<Option<Compression>> {
    let (kind, mut d) = decompress(r)?;
    let mut block = vec![0u8; 512];
    let mut got = 0;
    while got < 512 {
        match d.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Garbage behind a compression magic: not an archive.
            Err(_) => return Ok(None),
        }
    }
    Ok((got == 512 && is_tar_header(&block)).then_some(kind))
}

/// Extract the (possibly compressed) tar `input` into the existing directory
/// `dest`; `what` names the archive in errors. Owners in the archive are kept
/// when running as root (the caller chowns afterwards for `--chown`).
pub fn extract(input: impl Read, dest: &Path, what: &str) -> Result<Extracted> {
    let (_, stream) = decompress(input).map_err(|e| BuildError::Io {
        op: "reading archive",
        path: what.into(),
        source: e,
    })?;
    let opts = ExtractOptions {
        rootless: !rustix::process::geteuid().is_root(),
        tar_split: None,
        whiteouts: WhiteoutMode::Keep,
    };
    layer::extract(stream, dest, &opts).map_err(|source| BuildError::Extract {
        what: what.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    pub(crate) fn compress(kind: Compression, data: &[u8]) -> Vec<u8> {
        match kind {
            Compression::None => data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e =
                    lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                        .unwrap();
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Zstd => zstd::encode_all(data, 1).unwrap(),
        }
    }

    #[test]
    fn every_compression_is_sniffed_and_extracted() {
        let tar = tar_bytes();
        for kind in [
            Compression::None,
            Compression::Gzip,
            Compression::Bzip2,
            Compression::Xz,
            Compression::Zstd,
        ] {
            let data = compress(kind, &tar);
            assert_eq!(detect(&data), kind);
            assert_eq!(sniff(&data[..]).unwrap(), Some(kind), "{kind:?}");
            let d = tempfile::tempdir().unwrap();
            let x = extract(&data[..], d.path(), "test").unwrap();
            assert_eq!(x.entries, 1);
            assert_eq!(std::fs::read(d.path().join("hello.txt")).unwrap(), b"hello");
        }
    }

    #[test]
    fn non_archives_are_not_sniffed() {
        assert_eq!(sniff(&b"just some text"[..]).unwrap(), None);
        assert_eq!(sniff(&[0u8; 1024][..]).unwrap(), None);
        assert_eq!(
            sniff(&compress(Compression::Gzip, b"plain text")[..]).unwrap(),
            None
        );
        // A gzip magic followed by garbage.
        assert_eq!(sniff(&[0x1f, 0x8b, 1, 2, 3, 4, 5][..]).unwrap(), None);
        let mut not_tar = vec![b'x'; 512];
        not_tar[148..156].copy_from_slice(b"0000000\0");
        assert!(!is_tar_header(&not_tar));
    }

    #[test]
    fn whiteout_names_stay_files() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o600);
        h.set_cksum();
        b.append_data(&mut h, ".wh.gone", &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let d = tempfile::tempdir().unwrap();
        extract(&data[..], d.path(), "test").unwrap();
        assert_eq!(std::fs::read(d.path().join(".wh.gone")).unwrap(), b"x");
    }
}
