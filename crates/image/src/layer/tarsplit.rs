//! tar-split: what it takes to rebuild a layer's exact uncompressed tar from
//! its extracted directory, so the store can drop the blob.
//!
//! Format: a zstd stream; inside, the magic `BERTHTS1` and then records,
//! each a tag byte and little-endian fields:
//!
//! - `R` u32 len, bytes: raw bytes of the stream, verbatim (headers, PAX and
//!   GNU extension blocks, padding, content of non-regular or skipped
//!   entries, end-of-archive blocks, trailing bytes).
//! - `F` u64 size, u32 len, path: the next `size` bytes are the content of
//!   the regular file at `path` (relative to the layer dir).
//! - `B` u64 index, u64 len, bytes: content of the `index`-th `F` record
//!   (0-based), saved because a later entry of the same layer replaced or
//!   removed that file. Appears after the `F` it belongs to.
//! - `E` u64 total, 32 bytes sha256: end; length and digest of the stream.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_safepath::{OFlags, OpenInRoot, Root};
use sha2::{Digest, Sha256};

use super::error::LayerError;

const MAGIC: &[u8; 8] = b"BERTHTS1";
const RAW_CHUNK: usize = 64 * 1024;
/// Bytes of one copy step when streaming file content back.
const COPY_BUF: usize = 1024 * 1024;

pub(crate) struct SplitWriter {
    enc: zstd::Encoder<'static, BufWriter<File>>,
    raw: Vec<u8>,
    files: u64,
}

impl SplitWriter {
    pub fn create(path: &Path) -> io::Result<SplitWriter> {
        let f = File::create(path)?;
        // Level 3: metadata compresses well and this must not slow extraction.
        let mut enc = zstd::Encoder::new(BufWriter::new(f), 3)?;
        enc.write_all(MAGIC)?;
        Ok(SplitWriter {
            enc,
            raw: Vec::with_capacity(RAW_CHUNK),
            files: 0,
        })
    }

    pub fn raw(&mut self, data: &[u8]) -> io::Result<()> {
        self.raw.extend_from_slice(data);
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw()?;
        }
        Ok(())
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        for chunk in self.raw.chunks(u32::MAX as usize) {
            self.enc.write_all(b"R")?;
            self.enc.write_all(&(chunk.len() as u32).to_le_bytes())?;
            self.enc.write_all(chunk)?;
        }
        self.raw.clear();
        Ok(())
    }

    /// Returns the index later `blob` calls refer to.
    pub fn file(&mut self, path: &Path, size: u64) -> io::Result<u64> {
        self.flush_raw()?;
        let p = path.as_os_str().as_bytes();
        self.enc.write_all(b"F")?;
        self.enc.write_all(&size.to_le_bytes())?;
        self.enc.write_all(&(p.len() as u32).to_le_bytes())?;
        self.enc.write_all(p)?;
        self.files += 1;
        Ok(self.files - 1)
    }

    pub fn blob(&mut self, index: u64, data: &[u8]) -> io::Result<()> {
        // Raw bytes buffered so far belong before the blob's position in the
        // record stream only logically; blobs are looked up by index, so
        // order relative to R records does not matter. Flushing keeps the
        // stream simple to read.
        self.flush_raw()?;
        self.enc.write_all(b"B")?;
        self.enc.write_all(&index.to_le_bytes())?;
        self.enc.write_all(&(data.len() as u64).to_le_bytes())?;
        self.enc.write_all(data)
    }

    pub fn finish(mut self, total: u64, digest: &[u8; 32]) -> io::Result<()> {
        self.flush_raw()?;
        self.enc.write_all(b"E")?;
        self.enc.write_all(&total.to_le_bytes())?;
        self.enc.write_all(digest)?;
        self.enc
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        Ok(())
    }
}

enum Rec {
    Raw(Vec<u8>),
    File { size: u64, path: PathBuf },
    Blob { index: u64, data: Vec<u8> },
    End { total: u64, digest: [u8; 32] },
}

struct SplitReader {
    r: Box<dyn Read>,
    path: PathBuf,
}

impl SplitReader {
    fn open(path: &Path) -> Result<SplitReader, LayerError> {
        let err = |what: &str, e: io::Error| LayerError::TarSplit {
            path: path.to_path_buf(),
            what: what.to_string(),
            source: Some(e),
        };
        let f = File::open(path).map_err(|e| err("cannot open", e))?;
        let dec = zstd::stream::read::Decoder::with_buffer(BufReader::new(f))
            .map_err(|e| err("cannot start decompressing", e))?;
        let mut r = SplitReader {
            r: Box::new(dec),
            path: path.to_path_buf(),
        };
        let mut magic = [0u8; 8];
        r.exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(r.bad("not a berth tar-split (bad magic)"));
        }
        Ok(r)
    }

    fn bad(&self, what: &str) -> LayerError {
        LayerError::TarSplit {
            path: self.path.clone(),
            what: what.to_string(),
            source: None,
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), LayerError> {
        self.r.read_exact(buf).map_err(|e| LayerError::TarSplit {
            path: self.path.clone(),
            what: "truncated or unreadable".into(),
            source: Some(e),
        })
    }

    fn u32(&mut self) -> Result<u32, LayerError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, LayerError> {
        let mut b = [0u8; 8];
        self.exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn bytes(&mut self, len: u64, skip: bool) -> Result<Vec<u8>, LayerError> {
        if skip {
            let n = io::copy(&mut (&mut self.r).take(len), &mut io::sink()).map_err(|e| {
                LayerError::TarSplit {
                    path: self.path.clone(),
                    what: "unreadable".into(),
                    source: Some(e),
                }
            })?;
            if n != len {
                return Err(self.bad("truncated"));
            }
            return Ok(Vec::new());
        }
        // Grows with what is actually there, never trusting `len` up front.
        let mut v = Vec::new();
        (&mut self.r)
            .take(len)
            .read_to_end(&mut v)
            .map_err(|e| LayerError::TarSplit {
                path: self.path.clone(),
                what: "unreadable".into(),
                source: Some(e),
            })?;
        if v.len() as u64 != len {
            return Err(self.bad("truncated"));
        }
        Ok(v)
    }

    /// `want_raw`/`want_blob` say whether payloads are needed or skipped.
    fn next(&mut self, want_raw: bool, want_blob: bool) -> Result<Rec, LayerError> {
        let mut tag = [0u8; 1];
        self.exact(&mut tag)?;
        Ok(match tag[0] {
            b'R' => {
                let len = self.u32()?;
                Rec::Raw(self.bytes(len.into(), !want_raw)?)
            }
            b'F' => {
                let size = self.u64()?;
                let len = self.u32()?;
                if len as usize > super::names::MAX_NAME {
                    return Err(self.bad("file path too long"));
                }
                let p = self.bytes(len.into(), false)?;
                Rec::File {
                    size,
                    path: PathBuf::from(OsStr::from_bytes(&p)),
                }
            }
            b'B' => {
                let index = self.u64()?;
                let len = self.u64()?;
                Rec::Blob {
                    index,
                    data: self.bytes(len, !want_blob)?,
                }
            }
            b'E' => {
                let total = self.u64()?;
                let mut digest = [0u8; 32];
                self.exact(&mut digest)?;
                Rec::End { total, digest }
            }
            t => return Err(self.bad(&format!("unknown record tag 0x{t:02x}"))),
        })
    }
}

struct HashOut<W> {
    w: W,
    h: Sha256,
    n: u64,
}

impl<W: Write> HashOut<W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.h.update(data);
        self.n += data.len() as u64;
        self.w.write_all(data)
    }
}

/// Write the exact original uncompressed tar of the layer extracted into
/// `layer_dir` (with the tar-split written by `extract`) to `out`; returns
/// the number of bytes written. Fails if a file's size changed or the
/// result does not match the recorded length and digest (the output is
/// then not the layer and must be discarded).
pub fn reassemble(tar_split: &Path, layer_dir: &Path, out: impl Write) -> Result<u64, LayerError> {
    // Pass 1: blobs of files that were replaced later in the layer.
    let mut blobs: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut r = SplitReader::open(tar_split)?;
    loop {
        match r.next(false, true)? {
            Rec::Blob { index, data } => {
                blobs.insert(index, data);
            }
            Rec::End { .. } => break,
            _ => {}
        }
    }

    let root = Root::open(layer_dir).map_err(|e| LayerError::Path {
        layer: layer_dir.to_path_buf(),
        entry: String::new(),
        source: Box::new(e),
    })?;
    let out_err = |e: io::Error| LayerError::Stream {
        layer: layer_dir.to_path_buf(),
        op: "writing the reassembled tar",
        source: e,
    };
    let mut out = HashOut {
        w: out,
        h: Sha256::new(),
        n: 0,
    };
    let mut r = SplitReader::open(tar_split)?;
    let mut index = 0u64;
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        match r.next(true, false)? {
            Rec::Raw(data) => out.put(&data).map_err(out_err)?,
            Rec::Blob { .. } => {}
            Rec::File { size, path } => {
                let entry = path.to_string_lossy().into_owned();
                if let Some(data) = blobs.remove(&index) {
                    if data.len() as u64 != size {
                        return Err(
                            r.bad(&format!("saved content of '{entry}' has the wrong size"))
                        );
                    }
                    out.put(&data).map_err(out_err)?;
                } else {
                    copy_file(&root, layer_dir, &path, &entry, size, &mut buf, &mut out)?;
                }
                index += 1;
            }
            Rec::End { total, digest } => {
                out.w.flush().map_err(out_err)?;
                let got: [u8; 32] = out.h.finalize().into();
                if out.n != total || got != digest {
                    return Err(LayerError::TarSplit {
                        path: tar_split.to_path_buf(),
                        what: format!(
                            "reassembled {} bytes with sha256:{}, expected {} bytes with sha256:{} (the layer directory was modified?)",
                            out.n,
                            hex::encode(got),
                            total,
                            hex::encode(digest)
                        ),
                        source: None,
                    });
                }
                return Ok(out.n);
            }
        }
    }
}

fn copy_file<W: Write>(
    root: &Root,
    layer: &Path,
    path: &Path,
    entry: &str,
    size: u64,
    buf: &mut [u8],
    out: &mut HashOut<W>,
) -> Result<(), LayerError> {
    let io_err = |op, e: io::Error| LayerError::Io {
        layer: layer.to_path_buf(),
        entry: entry.to_string(),
        op,
        source: e,
    };
    let fd = root
        .open(path, OFlags::RDONLY | OFlags::NOFOLLOW, 0)
        .map_err(|e| LayerError::Path {
            layer: layer.to_path_buf(),
            entry: entry.to_string(),
            source: Box::new(e),
        })?;
    let mut f = File::from(fd);
    let have = f.metadata().map_err(|e| io_err("stat", e))?.len();
    if have != size {
        return Err(LayerError::SizeMismatch {
            layer: layer.to_path_buf(),
            entry: entry.to_string(),
            expected: size,
            got: have,
        });
    }
    let mut left = size;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want]).map_err(|e| io_err("read", e))?;
        if n == 0 {
            return Err(LayerError::SizeMismatch {
                layer: layer.to_path_buf(),
                entry: entry.to_string(),
                expected: size,
                got: size - left,
            });
        }
        out.put(&buf[..n]).map_err(|e| LayerError::Stream {
            layer: layer.to_path_buf(),
            op: "writing the reassembled tar",
            source: e,
        })?;
        left -= n as u64;
    }
    Ok(())
}
