//! The reader between the decompressor and the tar parser. Every byte of the
//! uncompressed stream passes through it exactly once, so it is where the
//! diff_id is hashed and where the tar-split records the bytes that are not
//! regular-file content. The tar crate reads headers, extension blocks and
//! padding through it with exact-size reads (no read-ahead: archive.rs reads
//! 512-byte blocks and `take(size)` views), so the extractor can flip the
//! mode around the copy of a file's content and get exact boundaries.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::tarsplit::SplitWriter;

/// Bytes the tar parser may read on its own for one entry (headers, PAX and
/// GNU long-name data it buffers in memory). Bounds the memory a header
/// claiming a huge PAX block can make it allocate.
pub(crate) const META_LIMIT: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Bytes are kept in the tar-split verbatim.
    Record,
    /// Like Record, while the tar parser looks for the next entry; counted
    /// against META_LIMIT.
    Next,
    /// A regular file's content: counted, not recorded (the file on disk is
    /// the record).
    Content,
}

pub(crate) struct TapCtl {
    pub mode: Mode,
    pub next_bytes: u64,
    pub content_bytes: u64,
    pub meta_exceeded: bool,
    pub split: Option<SplitWriter>,
}

pub(crate) type Ctl = Rc<RefCell<TapCtl>>;

pub(crate) struct Tap<R> {
    inner: R,
    hasher: Sha256,
    total: u64,
    ctl: Ctl,
}

impl<R: Read> Tap<R> {
    pub fn new(inner: R, split: Option<SplitWriter>) -> (Self, Ctl) {
        let ctl = Rc::new(RefCell::new(TapCtl {
            mode: Mode::Record,
            next_bytes: 0,
            content_bytes: 0,
            meta_exceeded: false,
            split,
        }));
        (
            Tap {
                inner,
                hasher: Sha256::new(),
                total: 0,
                ctl: ctl.clone(),
            },
            ctl,
        )
    }

    pub fn finish(self) -> ([u8; 32], u64) {
        (self.hasher.finalize().into(), self.total)
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        self.hasher.update(data);
        self.total += n as u64;
        let mut ctl = self.ctl.borrow_mut();
        match ctl.mode {
            Mode::Content => {
                ctl.content_bytes += n as u64;
                return Ok(n);
            }
            Mode::Next => {
                ctl.next_bytes += n as u64;
                if ctl.next_bytes > META_LIMIT {
                    ctl.meta_exceeded = true;
                    return Err(io::Error::other("tar extension headers too large"));
                }
            }
            Mode::Record => {}
        }
        if let Some(split) = ctl.split.as_mut() {
            split.raw(data)?;
        }
        Ok(n)
    }
}
