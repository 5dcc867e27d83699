//! The test side of `--console-socket`: receive the pty master over
//! SCM_RIGHTS and read the container's terminal output from it.

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use std::fs::File;
use std::io::{IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Listens on `path` and hands back the first fd sent over the first
/// connection, on a background thread (the runtime connects while `create`
/// is still running).
pub fn receive_console(path: &Path) -> JoinHandle<std::io::Result<OwnedFd>> {
    let listener = UnixListener::bind(path).expect("bind console socket");
    std::thread::spawn(move || {
        let (conn, _) = listener.accept()?;
        let mut data = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut data)];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut cmsg = RecvAncillaryBuffer::new(&mut space);
        rustix::net::recvmsg(&conn, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC)?;
        for msg in cmsg.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                if let Some(fd) = fds.next() {
                    return Ok(fd);
                }
            }
        }
        Err(std::io::Error::other("no fd in console socket message"))
    })
}

/// Reads from the pty master until `needle` shows up, the slave side closes
/// (EIO), or `timeout` passes; returns everything read.
pub fn read_until(master: OwnedFd, needle: &str, timeout: Duration) -> String {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    // The reader thread may block in read() past the timeout; it ends when
    // the container exits and the test's cleanup tears the pty down.
    std::thread::spawn(move || {
        let mut f = File::from(master);
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let deadline = std::time::Instant::now() + timeout;
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains(needle) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => got.extend(chunk),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
