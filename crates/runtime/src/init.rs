//! The container's init between fork and exec: it builds the container from the inside,
//! reports ready, blocks on the exec fifo until `start`, then becomes the user's process.

use std::convert::Infallible;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rustix::fs::{Mode, OFlags};

use crate::channel::{Channel, Msg};
use crate::config::has_namespace;
use crate::error::{IoContext, Result, RuntimeError};
use crate::hooks::{self, Kind};
use crate::rootfs::{self, CgroupView};
use crate::{console, process, sys};

pub struct InitCtx<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub cgroups: CgroupView,
    pub console_socket: Option<OwnedFd>,
    pub state_dir: OwnedFd,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub seccomp_notify: Option<process::NotifyTarget>,
    /// Prepared by the runtime on the host side (see `seccomp::prepare`).
    pub seccomp: Option<crate::seccomp::Prepared>,
}

pub fn run(ctx: InitCtx<'_>, chan: &Channel) -> Result<Infallible> {
    let spec = ctx.spec;
    let proc_ = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::Config("process is missing".into()))?;
    let has_mnt = has_namespace(spec, LinuxNamespaceType::Mount);
    let in_userns = has_namespace(spec, LinuxNamespaceType::User);
    // Device nodes and mount points get exactly the modes the config names.
    sys::umask(0);

    let mut pty = None;
    if has_mnt {
        let root = rootfs::prepare(&rootfs::Setup {
            spec,
            rootfs: ctx.rootfs,
            in_userns,
            cgroups: ctx.cgroups.clone(),
        })?;
        if proc_.terminal() == Some(true) {
            let size = proc_
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            let p = console::open_in_root(&root, size)?;
            console::chown_to_user(p.slave.as_fd(), proc_.user())?;
            console::bind_console(&root, p.slave.as_fd())?;
            pty = Some(p);
        }
    } else if proc_.terminal() == Some(true) {
        pty = Some(console::open_here(None)?);
    }
    if let Some(p) = &pty {
        match &ctx.console_socket {
            Some(sock) => console::send_master(sock.as_fd(), p.master.as_fd())?,
            None => chan
                .send_with_fd(&Msg::PtyMaster, Some(p.master.as_fd()))
                .ctx(|| "passing the pty master to the runtime".into())?,
        }
    }
    // The master now lives with the caller; keeping a copy would hold the pty open.
    let slave = pty.map(|p| p.slave);
    drop(ctx.console_socket);

    if has_namespace(spec, LinuxNamespaceType::Network)
        && !spec_joins(spec, LinuxNamespaceType::Network)
    {
        sys::loopback_up().ctx(|| "bringing up lo in the new network namespace".into())?;
    }
    if !ctx.no_new_keyring {
        sys::join_session_keyring().ctx(|| "creating a session keyring".into())?;
    }

    chan.send(&Msg::RuntimeHooks)
        .ctx(|| "asking for runtime hooks".into())?;
    let state_json = match chan.recv().ctx(|| "waiting for runtime hooks".into())? {
        Some((Msg::HooksDone(state), _)) => state.into_bytes(),
        Some((Msg::Error(e), _)) => return Err(RuntimeError::Init(e)),
        _ => return Err(RuntimeError::Init("runtime went away during hooks".into())),
    };
    hooks::run_all(Kind::CreateContainer, spec.hooks().as_ref(), &state_json)?;

    if has_mnt {
        rootfs::enter(ctx.rootfs, ctx.no_pivot)?;
    } else {
        rustix::process::chroot(ctx.rootfs)
            .map_err(std::io::Error::from)
            .ctx(|| format!("chroot into {}", ctx.rootfs.display()))?;
        rustix::process::chdir("/")
            .map_err(std::io::Error::from)
            .ctx(|| "chdir /".into())?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sys::sethostname(h).ctx(|| format!("setting hostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        sys::setdomainname(d).ctx(|| format!("setting domainname {d:?}"))?;
    }
    // Before readonlyPaths: the default spec makes /proc/sys read-only.
    write_sysctls(spec)?;
    // Also before the root may become read-only.
    create_cwd(proc_)?;
    if has_mnt {
        rootfs::finish(spec)?;
    }
    process::set_rlimits(proc_)?;
    process::set_oom_score_adj(proc_)?;
    process::set_personality(spec.linux().as_ref().and_then(|l| l.personality().as_ref()))?;
    if let Some(s) = &slave {
        console::become_console(s.as_fd())?;
    }
    drop(slave);
    let program = process::resolve_program(proc_)?;
    let seccomp = ctx.seccomp;

    // Problems opening the fifo must surface now, while `create` still listens.
    rustix::fs::accessat(
        &ctx.state_dir,
        crate::state::EXEC_FIFO,
        rustix::fs::Access::WRITE_OK,
        rustix::fs::AtFlags::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| "checking access to the exec fifo".into())?;
    chan.send(&Msg::Ready).ctx(|| "reporting ready".into())?;
    // Held (close-on-exec) until the exec: `start` waits for it to close before it
    // runs poststart hooks, so those see the user's process running.
    let _started = wait_for_start(&ctx.state_dir)?;
    drop(ctx.state_dir);
    hooks::run_all(Kind::StartContainer, spec.hooks().as_ref(), &state_json)?;
    let mut notify = ctx.seccomp_notify;
    if let Some(n) = notify.as_mut() {
        n.state = state_json;
    }
    process::finalize_and_exec(proc_, &program, seccomp.as_ref(), notify, ctx.preserve_fds)
}

fn spec_joins(spec: &Spec, kind: LinuxNamespaceType) -> bool {
    crate::config::namespace_kinds(spec)
        .iter()
        .any(|(k, p)| *k == kind && p.is_some())
}

/// Blocks until `start` opens the fifo for reading, then tells it we are going.
/// Init's end of the exec fifo after `start`. Dropped only when init fails between
/// `start` and exec (on success exec closes it), and then tells `start` so.
struct Started(std::fs::File);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.write_all(b"E");
    }
}

fn wait_for_start(state_dir: &OwnedFd) -> Result<Started> {
    let fifo = rustix::fs::openat(
        state_dir,
        crate::state::EXEC_FIFO,
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)
    .ctx(|| "opening the exec fifo".into())?;
    let mut f = std::fs::File::from(fifo);
    f.write_all(b"0").ctx(|| "writing the exec fifo".into())?;
    Ok(Started(f))
}

/// A working directory missing from the image is created (as runc does), as root and
/// before pivoting away from nothing: we are already inside the new root here.
fn create_cwd(p: &oci_spec::runtime::Process) -> Result<()> {
    let cwd = p.cwd();
    if cwd.as_os_str().is_empty() || cwd.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .ctx(|| format!("creating the working directory {}", cwd.display()))
}

fn write_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().clone()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = sysctl.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let rel = key.replace('.', "/");
        if rel.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(RuntimeError::Config(format!(
                "sysctl {key:?} is not a valid name"
            )));
        }
        let path = Path::new("/proc/sys").join(&rel);
        std::fs::write(&path, &sysctl[&key]).map_err(|e| {
            RuntimeError::Config(format!(
                "setting sysctl {key}={}: {e} (is it namespaced, and does the container have that namespace?)",
                sysctl[&key]
            ))
        })?;
    }
    Ok(())
}
