//! Rebuilding a layer's exact tar from the store and gzipping it for a push, written
//! straight into the upload stream (and, when the store keeps blobs, into a file the
//! store adopts afterwards), hashed on the way.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

use super::error::{io, ClientError, Result};
use super::progress::Progress;
use super::upload::Produced;

/// gzip level for layers pushed without a kept blob. Measured on the 128 MB
/// debootstrap rootfs tar with flate2/zlib-rs, user CPU for the whole tar (docs/registry.md):
/// level 6 1.85 s, 39.3%; level 3 1.26 s, 40.2% (2.4% larger, a third less CPU); level 2
/// 1.09 s, 41.5%; level 1 (zlib-rs' fast strategy) 0.69 s but 49.0%, 25% larger, which
/// every pull of the image over a real network pays for again.
pub(crate) const GZIP_LEVEL: u32 = 3;

/// Size of the pieces handed to the HTTP body: large enough to keep per-chunk overhead
/// (channel, frame) negligible, small enough that a few in flight cost little memory.
const PIECE: usize = 256 * 1024;

pub(crate) struct Job {
    pub tar_split: PathBuf,
    pub diff: PathBuf,
    /// Where to leave a copy of the compressed bytes, for the store to keep.
    pub keep_at: Option<PathBuf>,
    /// Length of the tar, for the progress bar's total (0 when unknown).
    pub tar_size: u64,
    /// Progress bar id; the bar counts tar bytes consumed.
    pub progress: Option<(Arc<Progress>, String)>,
}

/// Sends what is written to the upload, in `PIECE`-sized `Bytes`.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send_buf(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE));
        self.tx.blocking_send(Ok(Bytes::from(piece))).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the upload request ended before the layer was sent",
            )
        })
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE {
            self.send_buf()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send_buf()
    }
}

/// Hashes and counts the compressed bytes, and copies them to the kept file.
struct BlobWriter<W> {
    out: W,
    keep: Option<BufWriter<File>>,
    hasher: Sha256,
    n: u64,
}

impl<W: Write> Write for BlobWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(data)?;
        if let Some(k) = &mut self.keep {
            k.write_all(&data[..n])?;
        }
        self.hasher.update(&data[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(k) = &mut self.keep {
            k.flush()?;
        }
        self.out.flush()
    }
}

/// Counts tar bytes into the progress bar.
struct Counted<W> {
    inner: W,
    progress: Option<(Arc<Progress>, String)>,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        if let Some((p, id)) = &self.progress {
            p.add_bytes(id, n as u64);
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Runs on a blocking thread: rebuilds and compresses the layer into `tx`. On failure
/// the upload stream ends with the error (so the request is abandoned, not finished)
/// and the kept copy is removed.
pub(crate) fn compress(job: Job, tx: mpsc::Sender<std::io::Result<Bytes>>) -> Result<Produced> {
    let out = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(PIECE),
    };
    let result = write_blob(&job, out);
    if let Err(e) = &result {
        if let Some(p) = &job.keep_at {
            let _ = std::fs::remove_file(p);
        }
        if tx.is_closed() {
            // The upload stopped taking bytes: the request's own error says why.
            return Err(ClientError::Io {
                context: format!("sending layer {}", job.diff.display()),
                source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.to_string()),
            });
        }
        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
    result
}

/// Rebuilds and compresses the layer into its `keep_at` file only, for a manifest
/// needed before any upload (a manifest list's entry). The bytes are those a push
/// would stream: same tar, same compressor, same level.
pub(crate) fn compress_to_file(job: Job) -> Result<Produced> {
    let result = write_blob(&job, std::io::sink());
    if result.is_err() {
        if let Some(p) = &job.keep_at {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

fn write_blob(job: &Job, out: impl Write) -> Result<Produced> {
    let keep = match &job.keep_at {
        Some(p) => Some(BufWriter::with_capacity(
            PIECE,
            File::create(p).map_err(io(format!("creating {}", p.display())))?,
        )),
        None => None,
    };
    let blob = BlobWriter {
        out,
        keep,
        hasher: Sha256::new(),
        n: 0,
    };
    let gz = flate2::write::GzEncoder::new(blob, flate2::Compression::new(GZIP_LEVEL));
    let mut counted = Counted {
        inner: gz,
        progress: job.progress.clone(),
    };
    let what = format!("layer {}", job.diff.display());
    berth_image::layer::reassemble(&job.tar_split, &job.diff, &mut counted).map_err(|e| {
        ClientError::Image(berth_image::ImageError::Invalid {
            what: what.clone(),
            why: format!("cannot rebuild its tar: {e}"),
        })
    })?;
    let mut blob = counted
        .inner
        .finish()
        .map_err(io(format!("compressing {what}")))?;
    blob.flush().map_err(io(format!("sending {what}")))?;
    Ok(Produced {
        digest: format!("sha256:{}", hex::encode(blob.hasher.finalize())),
        size: blob.n,
    })
}
