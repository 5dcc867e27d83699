//! Seccomp user notification: the runtime hands the listener fd and the container state
//! to the agent at `linux.seccomp.listenerPath` (runtime-spec "seccomp" section).

mod common;

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::unix::net::UnixListener;

use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use serde_json::{json, Value};

#[test]
fn notify_fd_and_state_reach_the_listener() {
    let Some(mut t) = common::setup("notify_fd_and_state_reach_the_listener") else {
        return;
    };
    let sock = t.path("agent.sock");
    let listener = UnixListener::bind(&sock).expect("bind agent socket");
    t.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "berth-test",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    t.sh("mkdir /tmp/x; echo status=$?");
    // The agent: take the fd and the state, then close the fd. With no listener left,
    // the notified syscall fails with ENOSYS instead of blocking.
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &conn,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::empty(),
        )
        .expect("recvmsg");
        let mut fds = Vec::new();
        for m in control.drain() {
            if let RecvAncillaryMessage::ScmRights(f) = m {
                fds.extend(f);
            }
        }
        let mut data = buf[..got.bytes].to_vec();
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut &conn, &mut rest).ok();
        data.extend(rest);
        let msg: Value = serde_json::from_slice(&data).expect("process state JSON");
        (msg, fds.len())
    });
    let out = t.run();
    let (msg, nfds) = agent.join().expect("agent thread");
    assert_eq!(nfds, 1, "one fd with the message: {msg}");
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
    assert_eq!(msg["metadata"], json!("berth-test"), "{msg}");
    assert!(msg["pid"].as_i64().unwrap_or(0) > 0, "{msg}");
    assert_eq!(msg["state"]["id"], json!(t.id), "{msg}");
    assert!(out.stdout.contains("status=1"), "{out}");
    assert!(
        out.stderr.contains("Function not implemented")
            || out.stdout.contains("Function not implemented"),
        "{out}"
    );
}
