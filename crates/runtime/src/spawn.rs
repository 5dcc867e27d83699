//! Getting a process into the container's namespaces and cgroup.
//!
//! The runtime (single-threaded) forks an intermediate child into the cgroup (see
//! [`berth_cgroups::Entry`]: on v2 it is born there, on v1 it moves itself, and only
//! on a v2 kernel without `CLONE_INTO_CGROUP` does the runtime move it), then the
//! child joins the namespaces given by path, unshares the user
//! namespace (the runtime writes its id maps from outside), unshares the rest, and forks
//! the container process with CLONE_PARENT, so that process is pid 1 of any new pid
//! namespace and still a direct child of the runtime. The intermediate child reports
//! that pid and exits.

use std::convert::Infallible;
use std::io::Write;

use berth_cgroups::Manager;
use oci_spec::runtime::LinuxIdMapping;

use crate::channel::{self, Channel, Msg};
use crate::error::{IoContext, Result, RuntimeError};
use crate::namespaces::{self, Plan};
use crate::sys::{self, Forked};

pub struct Request<'a> {
    pub plan: Plan,
    pub uid_maps: Vec<LinuxIdMapping>,
    pub gid_maps: Vec<LinuxIdMapping>,
    /// Contents for /proc/self/timens_offsets of a new time namespace.
    pub time_offsets: Option<String>,
    pub cgroup: Option<&'a dyn Manager>,
}

pub struct Spawned {
    pub pid: i32,
    pub chan: Channel,
}

/// Forks into the container. `body` runs in the container process and must exec (or
/// fail); its error is reported back over the channel.
pub fn spawn<F>(req: Request<'_>, body: F) -> Result<Spawned>
where
    F: FnOnce(&Channel) -> Result<Infallible>,
{
    let (ours, theirs) = channel::pair().ctx(|| "creating the sync socket".into())?;
    let entry = req.cgroup.map(|cg| cg.entry()).transpose()?;
    let forking = || "forking the container's intermediate process".into();
    let (forked, mover) = match entry.as_ref().map(|e| e.dir_fd()) {
        None => (sys::fork().ctx(forking)?, Mover::Nobody),
        Some(None) => (sys::fork().ctx(forking)?, Mover::Child),
        Some(Some(dir)) => match sys::fork_into_cgroup(dir) {
            Ok(f) => (f, Mover::Nobody),
            // An older kernel, or one that refuses the cgroup: the usual way, which
            // reports what is wrong with the cgroup.
            Err(_) => (sys::fork().ctx(forking)?, Mover::Parent),
        },
    };
    match forked {
        Forked::Child => {
            drop(ours);
            let entry = entry.filter(|_| mover == Mover::Child);
            let code = match intermediate(&req, &theirs, entry, body) {
                Ok(()) => 0,
                Err(e) => {
                    theirs.send_error(&e);
                    1
                }
            };
            sys::exit_now(code)
        }
        Forked::Parent(child) => {
            drop(theirs);
            drop(entry);
            let result = drive(&req, &ours, child, mover == Mover::Parent);
            if result.is_err() {
                let _ = sys::kill(child, libc::SIGKILL);
            }
            let _ = sys::waitpid(child, false);
            result.map(|pid| Spawned { pid, chan: ours })
        }
    }
}

/// Who puts the intermediate process in the cgroup, when it was not forked there.
#[derive(PartialEq, Eq)]
enum Mover {
    Nobody,
    /// It writes itself to the v1 hierarchies' `tasks` files.
    Child,
    /// The runtime writes its pid to `cgroup.procs`.
    Parent,
}

fn drive(req: &Request<'_>, chan: &Channel, child: i32, move_child: bool) -> Result<i32> {
    if let (Some(cg), true) = (req.cgroup, move_child) {
        cg.add_task(child)?;
    }
    chan.send(&Msg::Go)
        .ctx(|| "signalling the intermediate process".into())?;
    loop {
        match chan
            .recv()
            .ctx(|| "reading from the intermediate process".into())?
        {
            Some((Msg::MapRequest(pid), _)) => {
                crate::idmap::write(pid, &req.uid_maps, &req.gid_maps)?;
                chan.send(&Msg::MapsDone)
                    .ctx(|| "signalling maps done".into())?;
            }
            Some((Msg::Pid(pid), _)) => {
                chan.send(&Msg::Continue)
                    .ctx(|| "releasing the container process".into())?;
                return Ok(pid);
            }
            Some((Msg::Error(e), _)) => return Err(RuntimeError::Init(e)),
            Some((other, _)) => {
                return Err(RuntimeError::Init(format!(
                    "unexpected message {other:?} during spawn"
                )))
            }
            None => {
                return Err(RuntimeError::Init(
                    "the intermediate process exited before the container process started".into(),
                ))
            }
        }
    }
}

fn expect(chan: &Channel, want: &str) -> Result<()> {
    match chan.recv().ctx(|| format!("waiting for {want}"))? {
        Some((m, _)) if format!("{m:?}") == want => Ok(()),
        Some((m, _)) => Err(RuntimeError::Init(format!("expected {want}, got {m:?}"))),
        None => Err(RuntimeError::Init(format!(
            "runtime went away while waiting for {want}"
        ))),
    }
}

fn intermediate<F>(
    req: &Request<'_>,
    chan: &Channel,
    entry: Option<berth_cgroups::Entry>,
    body: F,
) -> Result<()>
where
    F: FnOnce(&Channel) -> Result<Infallible>,
{
    // Until exec, this process holds host descriptors: keep other processes in the
    // container's namespaces from ptracing it or opening its /proc files.
    sys::set_dumpable(false).ctx(|| "making the runtime process non-dumpable".into())?;
    expect(chan, "Go")?;
    if let Some(entry) = entry {
        // Still single-threaded, as entering by `tasks` requires; the files are
        // closed before anything runs in the container's namespaces.
        entry.enter_self()?;
    }
    namespaces::join_all(&req.plan.join)?;
    let joined_user = req
        .plan
        .join
        .iter()
        .any(|j| j.kind == oci_spec::runtime::LinuxNamespaceType::User);
    if req.plan.new_user {
        sys::unshare(libc::CLONE_NEWUSER).ctx(|| "creating the user namespace".into())?;
        chan.send(&Msg::MapRequest(sys::getpid()))
            .ctx(|| "requesting id maps".into())?;
        expect(chan, "MapsDone")?;
    }
    if req.plan.new_user || joined_user {
        // Become the namespace's root so files created during setup are owned by a
        // mapped id.
        sys::setresgid(0).ctx(|| "becoming gid 0 in the user namespace (is 0 mapped?)".into())?;
        sys::setresuid(0).ctx(|| "becoming uid 0 in the user namespace (is 0 mapped?)".into())?;
    }
    if req.plan.unshare != 0 {
        sys::unshare(req.plan.unshare).ctx(|| "creating the container's namespaces".into())?;
    }
    if let Some(offsets) = &req.time_offsets {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/timens_offsets")
            .and_then(|mut f| f.write_all(offsets.as_bytes()))
            .ctx(|| "writing time namespace offsets".into())?;
    }
    match sys::fork_sibling().ctx(|| "forking the container process".into())? {
        Forked::Child => {
            let code = match (|| {
                expect(chan, "Continue")?;
                body(chan)
            })() {
                Ok(never) => match never {},
                Err(e) => {
                    chan.send_error(&e);
                    1
                }
            };
            sys::exit_now(code)
        }
        Forked::Parent(pid) => {
            chan.send(&Msg::Pid(pid))
                .ctx(|| "reporting the container pid".into())?;
            Ok(())
        }
    }
}
