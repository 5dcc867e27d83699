//! The monitor's side of one attach connection: non-blocking, with a bounded
//! output queue so a slow client can never stall the container.

use crate::protocol::{Decoder, Frame, Hello};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

/// Output queued beyond this drops the client.
pub const MAX_PENDING: usize = 1 << 20;

pub struct Conn {
    pub stream: UnixStream,
    decoder: Decoder,
    pub hello: Option<Hello>,
    out: Vec<u8>,
    out_off: usize,
    /// Set after a `wait` client's exit frame: hang up once it is flushed.
    pub close_after_flush: bool,
    pub dead: bool,
}

impl Conn {
    pub fn new(stream: UnixStream) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            stream,
            decoder: Decoder::default(),
            hello: None,
            out: Vec::new(),
            out_off: 0,
            close_after_flush: false,
            dead: false,
        })
    }

    pub fn wants(&self, stream: u8) -> bool {
        self.hello.is_some_and(|h| match stream {
            crate::protocol::STDOUT => h.stdout,
            crate::protocol::STDERR => h.stderr,
            _ => false,
        })
    }

    pub fn queue(&mut self, bytes: &[u8]) {
        if self.dead {
            return;
        }
        if self.out.len() - self.out_off + bytes.len() > MAX_PENDING {
            self.dead = true;
            return;
        }
        self.out.extend_from_slice(bytes);
        self.flush();
    }

    pub fn has_output(&self) -> bool {
        self.out_off < self.out.len()
    }

    pub fn flush(&mut self) {
        while self.has_output() && !self.dead {
            match self.stream.write(&self.out[self.out_off..]) {
                Ok(0) => self.dead = true,
                Ok(n) => self.out_off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        if !self.has_output() {
            self.out.clear();
            self.out_off = 0;
            if self.out.capacity() > 64 * 1024 {
                self.out.shrink_to_fit();
            }
            if self.close_after_flush {
                self.dead = true;
            }
        }
    }

    /// Frames received so far (the hello is consumed here). A protocol error
    /// or hang-up marks the connection dead.
    pub fn read_frames(&mut self, buf: &mut [u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        // One read per wake-up keeps a chatty client from starving the others.
        match self.stream.read(buf) {
            Ok(0) => self.dead = true,
            Ok(n) => self.decoder.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => self.dead = true,
        }
        loop {
            match self.decoder.next_frame() {
                Ok(Some(Frame::Hello(h))) if self.hello.is_none() => self.hello = Some(h),
                Ok(Some(_)) if self.hello.is_none() => {
                    self.dead = true;
                    break;
                }
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        frames
    }
}
