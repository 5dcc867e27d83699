//! The engine's side of the attach socket.

use crate::protocol::{self, ExitInfo, Frame, Hello};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub const ATTACH_SOCKET: &str = "attach.sock";

#[derive(Debug)]
pub struct AttachClient {
    stream: UnixStream,
}

impl AttachClient {
    pub fn connect(run_dir: &Path, hello: Hello) -> io::Result<AttachClient> {
        let mut stream = UnixStream::connect(run_dir.join(ATTACH_SOCKET))?;
        protocol::write_frame(&mut stream, &Frame::Hello(hello))?;
        Ok(AttachClient { stream })
    }

    /// A second handle on the same connection, so one thread can pump stdin
    /// while another reads output.
    pub fn try_clone(&self) -> io::Result<AttachClient> {
        Ok(AttachClient {
            stream: self.stream.try_clone()?,
        })
    }

    pub fn send_stdin(&mut self, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(protocol::MAX_PAYLOAD) {
            protocol::write_frame(&mut self.stream, &Frame::Stdin(chunk.to_vec()))?;
        }
        Ok(())
    }

    /// Reports that the cleanup the exit frame asked for is done.
    pub fn cleaned(&mut self) -> io::Result<()> {
        protocol::write_frame(&mut self.stream, &Frame::Cleaned)
    }

    pub fn close_stdin(&mut self) -> io::Result<()> {
        protocol::write_frame(&mut self.stream, &Frame::CloseStdin)
    }

    pub fn resize(&mut self, rows: u16, cols: u16) -> io::Result<()> {
        protocol::write_frame(&mut self.stream, &Frame::Resize { rows, cols })
    }

    /// The next frame from the monitor; `Ok(None)` when it hung up.
    pub fn recv(&mut self) -> io::Result<Option<Frame>> {
        protocol::read_frame(&mut self.stream)
    }

    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

/// Waits for the container's next exit. `Ok(None)` means there is no monitor
/// (no socket, connection refused, or it hung up without an exit frame): the
/// caller should take the final state from the state file or its database.
pub fn wait_exit(run_dir: &Path) -> io::Result<Option<ExitInfo>> {
    let hello = Hello {
        wait: true,
        ..Hello::default()
    };
    let mut c = match AttachClient::connect(run_dir, hello) {
        Ok(c) => c,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    loop {
        match c.recv() {
            Ok(Some(Frame::Exit(info))) => return Ok(Some(info)),
            Ok(Some(_)) => {}
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}
