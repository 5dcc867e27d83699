//! The json-file log driver: Docker's line format, 16 KiB partial lines, and
//! size-based rotation.

use crate::config::{LogConfig, LogDriver};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Docker splits lines longer than this into partial entries.
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// One log line as the json-file driver writes it, with its newline.
pub fn format_line(text: &[u8], stream: Stream, time: SystemTime) -> Vec<u8> {
    let time = humantime::format_rfc3339_nanos(time).to_string();
    let log = String::from_utf8_lossy(text);
    let mut out = serde_json::to_vec(&Entry {
        log: &log,
        stream: stream.name(),
        time: &time,
    })
    .unwrap_or_default();
    out.push(b'\n');
    out
}

/// Splits buffered output into whole lines and 16 KiB partial lines, keeping
/// an unterminated tail for the next chunk.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        loop {
            let rest = &self.pending[start..];
            let cut = match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i < MAX_LINE => i + 1,
                _ if rest.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            emit(&rest[..cut]);
            start += cut;
        }
        self.pending.drain(..start);
        if self.pending.capacity() > 4 * MAX_LINE && self.pending.len() < MAX_LINE {
            self.pending.shrink_to(MAX_LINE);
        }
    }

    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
        self.pending.shrink_to_fit();
    }
}

/// Renames `path` to `path.1`, shifting older files up and dropping the one
/// that would exceed `max_file - 1` rotated files.
pub fn rotate_files(path: &Path, max_file: u32) -> io::Result<()> {
    let numbered = |n: u32| -> PathBuf {
        let mut s = path.as_os_str().to_owned();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    };
    if max_file <= 1 {
        // No rotated file is kept: the live file starts over.
        return std::fs::remove_file(path).or_else(ignore_missing);
    }
    let keep = max_file - 1;
    std::fs::remove_file(numbered(keep)).or_else(ignore_missing)?;
    for n in (1..keep).rev() {
        std::fs::rename(numbered(n), numbered(n + 1)).or_else(ignore_missing)?;
    }
    std::fs::rename(path, numbered(1)).or_else(ignore_missing)
}

fn ignore_missing(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

pub struct LogWriter {
    cfg: LogConfig,
    file: Option<File>,
    size: u64,
    split: [LineSplitter; 2],
}

impl LogWriter {
    pub fn new(cfg: &LogConfig) -> LogWriter {
        LogWriter {
            cfg: cfg.clone(),
            file: None,
            size: 0,
            split: Default::default(),
        }
    }

    fn enabled(&self) -> bool {
        self.cfg.driver == LogDriver::JsonFile && !self.cfg.path.as_os_str().is_empty()
    }

    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if !self.enabled() {
            return;
        }
        let now = SystemTime::now();
        let mut lines = Vec::new();
        self.split[stream as usize].push(data, |l| lines.push(format_line(l, stream, now)));
        for l in lines {
            self.append(&l);
        }
    }

    /// Writes out unterminated tails (at container exit).
    pub fn flush(&mut self) {
        if !self.enabled() {
            return;
        }
        let now = SystemTime::now();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let mut lines = Vec::new();
            self.split[stream as usize].flush(|l| lines.push(format_line(l, stream, now)));
            for l in lines {
                self.append(&l);
            }
        }
    }

    fn append(&mut self, line: &[u8]) {
        // A failing log must not stop the container's output from flowing to
        // attach clients, so errors only drop the line.
        let _ = self.try_append(line);
    }

    fn try_append(&mut self, line: &[u8]) -> io::Result<()> {
        let max = self.cfg.max_size;
        if self.file.is_none() {
            self.open()?;
        }
        if max > 0 && self.size > 0 && self.size + line.len() as u64 > max {
            self.file = None;
            rotate_files(&self.cfg.path, self.cfg.max_file)?;
            self.open()?;
        }
        if let Some(f) = &mut self.file {
            f.write_all(line)?;
            self.size += line.len() as u64;
        }
        Ok(())
    }

    fn open(&mut self) -> io::Result<()> {
        if let Some(dir) = self.cfg.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .custom_flags(libc::O_CLOEXEC)
            .open(&self.cfg.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn collect(s: &mut LineSplitter, data: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        s.push(data, |l| v.push(l.to_vec()));
        v
    }

    #[test]
    fn line_format() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let l = format_line(b"hi \"x\"\n", Stream::Stderr, t);
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "{\"log\":\"hi \\\"x\\\"\\n\",\"stream\":\"stderr\",\"time\":\"2023-11-14T22:13:20.123456789Z\"}\n"
        );
    }

    #[test]
    fn partial_lines() {
        let mut s = LineSplitter::default();
        assert!(collect(&mut s, b"ab").is_empty());
        assert_eq!(
            collect(&mut s, b"c\nd\ne"),
            vec![b"abc\n".to_vec(), b"d\n".to_vec()]
        );
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        let got = collect(&mut s, &long);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[0][0], b'e');
        let mut tail = Vec::new();
        s.flush(|l| tail.push(l.to_vec()));
        assert_eq!(tail, vec![vec![b'x'; 11]]);
    }

    #[test]
    fn rotation_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ctr.log");
        for gen in 0..5 {
            std::fs::write(&p, format!("{gen}")).unwrap();
            rotate_files(&p, 3).unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["ctr.log.1", "ctr.log.2"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ctr.log.1")).unwrap(),
            "4"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ctr.log.2")).unwrap(),
            "3"
        );
    }

    #[test]
    fn writer_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            driver: LogDriver::JsonFile,
            path: dir.path().join("ctr.log"),
            max_size: 300,
            max_file: 2,
        };
        let mut w = LogWriter::new(&cfg);
        for i in 0..20 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes());
        }
        let live = std::fs::read_to_string(&cfg.path).unwrap();
        let old = std::fs::read_to_string(dir.path().join("ctr.log.1")).unwrap();
        assert!(live.len() <= 300 && old.len() <= 300);
        assert!(live.contains("line 19\\n"));
        assert!(!dir.path().join("ctr.log.2").exists());
    }
}
