//! The sync channel between the runtime and the processes it forks into the container:
//! one SOCK_SEQPACKET socketpair, one JSON message per packet, descriptors (the pty
//! master) riding along as SCM_RIGHTS. Seqpacket keeps message boundaries, and the peer
//! closing (a child dying, or exec closing the CLOEXEC end) shows up as end-of-file.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// runtime -> child: the child is in the cgroup; go on.
    Go,
    /// child -> runtime: write the uid/gid maps of this pid.
    MapRequest(i32),
    MapsDone,
    /// intermediate child -> runtime: the pid of the container process it forked.
    Pid(i32),
    /// runtime -> container process: its pid is recorded; go on.
    Continue,
    /// container init -> runtime: mounts are done; run prestart/createRuntime hooks.
    RuntimeHooks,
    /// runtime -> init: hooks ran; carries the state JSON (with init's host pid, which
    /// init cannot know from inside its pid namespace) for the hooks init runs itself.
    HooksDone(String),
    /// container -> runtime: here is the pty master (sent with the fd attached).
    PtyMaster,
    /// container init -> runtime: set up and waiting for `start`.
    Ready,
    /// any child -> runtime: setup failed.
    Error(String),
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

const MAX_MSG: usize = 64 * 1024;

impl Channel {
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
        let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds;
        if let Some(fd) = fd {
            fds = [fd];
            control.push(SendAncillaryMessage::ScmRights(&fds));
        }
        sendmsg(
            &self.fd,
            &[IoSlice::new(&body)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        Ok(())
    }

    /// Receives one message; `None` means the peer is gone.
    pub fn recv(&self) -> io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = loop {
            match recvmsg(
                &self.fd,
                &mut [IoSliceMut::new(&mut buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Err(rustix::io::Errno::INTR) => continue,
                other => break other?,
            }
        };
        if got.bytes == 0 {
            return Ok(None);
        }
        let mut passed = None;
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = m {
                for fd in fds {
                    passed.get_or_insert(fd);
                }
            }
        }
        let msg = serde_json::from_slice(&buf[..got.bytes]).map_err(io::Error::other)?;
        Ok(Some((msg, passed)))
    }

    /// Reports an error to the peer; used on the way out of a failing child, where a
    /// second failure has nowhere to go.
    /// After `create` has returned nobody reads the channel any more; the error then
    /// goes to the process's stderr, which is the container's.
    pub fn send_error(&self, e: &dyn std::fmt::Display) {
        if self.send(&Msg::Error(e.to_string())).is_err() {
            eprintln!("berth-runtime: container process: {e}");
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends a descriptor over an arbitrary connected unix socket (the console socket).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        sock,
        &[IoSlice::new(name)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}
