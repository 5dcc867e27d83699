//! A file written once and read rarely, such as a layer's kept compressed blob: its
//! pages are sent to disk while it is written and dropped from the page cache behind
//! the writer. Keeping the blob then costs disk, not page-cache memory that the
//! layer's own files (written in the same pull) are waiting for.

use std::fs::File;
use std::io::{self, Write};
use std::num::NonZeroU64;
use std::os::fd::AsRawFd;

use rustix::fs::{fadvise, Advice};

/// How much is written between two write-back requests.
const WINDOW: u64 = 8 << 20;

pub struct DropBehind {
    file: File,
    written: u64,
    /// Everything before this offset was submitted for write-back.
    submitted: u64,
    /// Everything before this offset was dropped from the cache.
    dropped: u64,
}

impl DropBehind {
    pub fn new(file: File) -> DropBehind {
        DropBehind {
            file,
            written: 0,
            submitted: 0,
            dropped: 0,
        }
    }

    /// Starts write-back of what was written since the last call, and drops what the
    /// call before submitted (by now on disk, so its pages are clean).
    fn write_behind(&mut self) {
        if let Some(len) = NonZeroU64::new(self.submitted - self.dropped) {
            let _ = fadvise(&self.file, self.dropped, Some(len), Advice::DontNeed);
            self.dropped = self.submitted;
        }
        let len = self.written - self.submitted;
        // SAFETY: sync_file_range only reads its integer arguments; the descriptor is
        // owned by `self.file` and open for the duration of the call. A failure only
        // leaves the pages to the kernel's usual write-back.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                self.submitted as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.submitted = self.written;
    }
}

impl Write for DropBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.submitted >= WINDOW {
            self.write_behind();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let mut w =
            io::BufWriter::with_capacity(256 * 1024, DropBehind::new(File::create(&path).unwrap()));
        let mut want = Vec::new();
        let mut x: u32 = 7;
        // A little over three windows, in odd-sized writes.
        while want.len() < (3 * WINDOW as usize) + 12345 {
            let chunk: Vec<u8> = (0..70_001)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            w.write_all(&chunk).unwrap();
            want.extend_from_slice(&chunk);
        }
        w.flush().unwrap();
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }
}
