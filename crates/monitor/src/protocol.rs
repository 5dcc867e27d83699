//! The attach socket's framing: 1 byte type, 4 byte big-endian length, payload.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

pub const MAX_PAYLOAD: usize = 1 << 20;
const HEADER: usize = 5;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const RESIZE: u8 = 3;
pub const EXIT: u8 = 4;
pub const CLOSE_STDIN: u8 = 5;
pub const HELLO: u8 = 6;
/// Client to monitor: the cleanup the exit frame asked for is done.
pub const CLEANED: u8 = 7;

/// The first frame a client sends: which streams it wants, and whether the
/// monitor should hang up after the next exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Hello {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub wait: bool,
    /// The client runs the container's cleanup itself when the container exits
    /// for good (it has the engine in its own process), sparing a process: the
    /// exit frame then carries `cleanup` and the monitor waits for `Cleaned`,
    /// running the cleanup itself if the client goes away first.
    pub cleanup: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExitInfo {
    pub exit_code: i32,
    pub oom_killed: bool,
    pub error: Option<String>,
    /// Set on the exit frame sent to the client that offered to run the cleanup.
    pub cleanup: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdin(Vec<u8>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Resize { rows: u16, cols: u16 },
    Exit(ExitInfo),
    CloseStdin,
    Hello(Hello),
    Cleaned,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, std::borrow::Cow<'_, [u8]>) = match self {
            Frame::Stdin(b) => (STDIN, b.into()),
            Frame::Stdout(b) => (STDOUT, b.into()),
            Frame::Stderr(b) => (STDERR, b.into()),
            Frame::Resize { rows, cols } => {
                let mut p = rows.to_be_bytes().to_vec();
                p.extend_from_slice(&cols.to_be_bytes());
                (RESIZE, p.into())
            }
            Frame::Exit(e) => (EXIT, serde_json::to_vec(e).unwrap_or_default().into()),
            Frame::CloseStdin => (CLOSE_STDIN, (&[][..]).into()),
            Frame::Hello(h) => (HELLO, serde_json::to_vec(h).unwrap_or_default().into()),
            Frame::Cleaned => (CLEANED, (&[][..]).into()),
        };
        encode_raw(kind, &payload)
    }

    pub fn decode(kind: u8, payload: &[u8]) -> io::Result<Frame> {
        Ok(match kind {
            STDIN => Frame::Stdin(payload.to_vec()),
            STDOUT => Frame::Stdout(payload.to_vec()),
            STDERR => Frame::Stderr(payload.to_vec()),
            RESIZE => {
                if payload.len() != 4 {
                    return Err(invalid(format!("resize frame of {} bytes", payload.len())));
                }
                Frame::Resize {
                    rows: u16::from_be_bytes([payload[0], payload[1]]),
                    cols: u16::from_be_bytes([payload[2], payload[3]]),
                }
            }
            EXIT => Frame::Exit(
                serde_json::from_slice(payload).map_err(|e| invalid(format!("exit frame: {e}")))?,
            ),
            CLOSE_STDIN => Frame::CloseStdin,
            CLEANED => Frame::Cleaned,
            HELLO => Frame::Hello(
                serde_json::from_slice(payload)
                    .map_err(|e| invalid(format!("hello frame: {e}")))?,
            ),
            k => return Err(invalid(format!("unknown frame type {k}"))),
        })
    }
}

/// A frame's bytes without building a [`Frame`], so output chunks are copied once.
pub fn encode_raw(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Blocking read of one frame; `Ok(None)` on EOF at a frame boundary.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut hdr = [0u8; HEADER];
    let mut got = 0;
    while got < HEADER {
        match r.read(&mut hdr[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_be_bytes([hdr[1], hdr[2], hdr[3], hdr[4]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(invalid(format!("frame of {len} bytes exceeds the limit")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    Frame::decode(hdr[0], &payload).map(Some)
}

pub fn write_frame(w: &mut impl Write, f: &Frame) -> io::Result<()> {
    w.write_all(&f.encode())
}

/// Incremental parsing for the monitor's non-blocking sockets.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(invalid(format!("frame of {len} bytes exceeds the limit")));
        }
        if self.buf.len() < HEADER + len {
            return Ok(None);
        }
        let f = Frame::decode(self.buf[0], &self.buf[HEADER..HEADER + len]);
        self.buf.drain(..HEADER + len);
        f.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Frame> {
        vec![
            Frame::Stdin(b"abc".to_vec()),
            Frame::Stdout(vec![]),
            Frame::Stderr(vec![0xff; 70000]),
            Frame::Resize {
                rows: 24,
                cols: 513,
            },
            Frame::Exit(ExitInfo {
                exit_code: 137,
                oom_killed: true,
                error: Some("x".into()),
                cleanup: true,
            }),
            Frame::CloseStdin,
            Frame::Hello(Hello {
                stdin: true,
                stdout: true,
                stderr: false,
                wait: true,
                cleanup: true,
            }),
            Frame::Cleaned,
        ]
    }

    #[test]
    fn blocking_round_trip() {
        let mut wire = Vec::new();
        for f in all() {
            write_frame(&mut wire, &f).unwrap();
        }
        let mut r = &wire[..];
        for f in all() {
            assert_eq!(read_frame(&mut r).unwrap(), Some(f));
        }
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn decoder_byte_by_byte() {
        let wire: Vec<u8> = all().iter().flat_map(|f| f.encode()).collect();
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            d.push(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, all());
    }

    #[test]
    fn header_layout_and_limits() {
        assert_eq!(
            Frame::Resize { rows: 1, cols: 2 }.encode(),
            vec![3, 0, 0, 0, 4, 0, 1, 0, 2]
        );
        let mut d = Decoder::default();
        d.push(&[1, 0x00, 0x20, 0, 1]);
        assert!(d.next_frame().is_err());
        assert!(Frame::decode(9, b"").is_err());
        assert!(read_frame(&mut &[1u8, 0, 0, 0, 5, b'x'][..]).is_err());
    }
}
