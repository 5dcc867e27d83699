//! Seccomp filters built from `linux.seccomp` of the runtime-spec, with
//! libseccomp doing the BPF generation.
//!
//! The container's init calls [`build_filter`] and [`load`] as late as
//! possible before `execve`: once loaded, every syscall the init makes is
//! filtered too. When a rule uses `SCMP_ACT_NOTIFY`, the fd returned by
//! [`load`] has to reach the seccomp agent ([`send_notify_fd`]); the init must
//! not make syscalls that the filter sends to the (not yet connected) agent
//! before handing the fd over, or it blocks forever.

use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

type LibseccompError = libseccomp::error::SeccompError;

/// Linux syscalls take at most six arguments, so `args[].index` is 0..=5.
const MAX_SYSCALL_ARGS: usize = 6;

/// libseccomp API level 6 is the first where notify works together with the
/// other filter attributes (libseccomp >= 2.5.0, Linux >= 5.7); runc asks for
/// the same.
const NOTIFY_MIN_API_LEVEL: u32 = 6;

/// runc switches on libseccomp's binary-tree optimisation above this many
/// rules, counting one per syscall name (its config holds a rule per name);
/// below it the linear filter is as fast and libseccomp <= 2.5.4 misbehaves
/// with the optimisation and no rules.
const OPTIMIZE_ABOVE_RULES: usize = 32;

/// The `ociVersion` written into the container process state sent to the
/// seccomp agent.
const PROCESS_STATE_OCI_VERSION: &str = "1.2.0";

/// Why a seccomp filter could not be built, loaded or handed to the agent.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error(
        "seccomp: SCMP_ACT_NOTIFY cannot be the defaultAction: the container's init would \
         block on its own syscalls before the agent gets the listener fd; use it only in \
         syscalls[].action"
    )]
    NotifyAsDefault,

    #[error(
        "seccomp: SCMP_ACT_NOTIFY cannot be used for the `write` syscall: the runtime needs \
         write to hand the listener fd over; remove `write` from that rule"
    )]
    NotifyOnWrite,

    #[error(
        "seccomp: SCMP_ACT_NOTIFY needs libseccomp API level {NOTIFY_MIN_API_LEVEL} or later \
         (libseccomp >= 2.5.0 and Linux >= 5.7) but this host has level {api_level}; remove \
         the notify rules or upgrade libseccomp/the kernel"
    )]
    NotifyUnsupported { api_level: u32 },

    #[error(
        "seccomp: {field} sets an errno return value but its action {action} does not take \
         one; remove the errno value or use SCMP_ACT_ERRNO or SCMP_ACT_TRACE"
    )]
    ErrnoRetNotAllowed {
        field: String,
        action: LinuxSeccompAction,
    },

    #[error(
        "seccomp: {field} has errno return value {value}, which does not fit the 16 bits \
         seccomp allows; use a value up to 65535"
    )]
    ErrnoRetOutOfRange { field: String, value: u32 },

    #[error(
        "seccomp: architecture {arch} cannot be added to the filter: {reason}; libseccomp \
         cannot combine it with this host's native architecture (different byte order) or \
         does not support it, so remove it from linux.seccomp.architectures"
    )]
    Arch {
        arch: String,
        reason: LibseccompError,
    },

    #[error(
        "seccomp: flag {flag} is not supported by this libseccomp or kernel: {reason}; \
         remove it from linux.seccomp.flags"
    )]
    Flag {
        flag: String,
        reason: LibseccompError,
    },

    #[error(
        "seccomp: the rule for syscall `{syscall}` filters argument index {index}, but \
         syscalls have arguments 0 to 5 only; fix args[].index"
    )]
    ArgIndex { syscall: String, index: usize },

    #[error(
        "seccomp: a rule in linux.seccomp.syscalls has an empty syscall name; remove the \
         empty entry from names"
    )]
    EmptySyscallName,

    #[error("seccomp: cannot {what}: {reason}")]
    Filter {
        what: String,
        reason: LibseccompError,
    },

    #[error(
        "seccomp: loading the filter into the kernel failed: {reason}; without \
         no_new_privs set the process needs CAP_SYS_ADMIN to load a filter"
    )]
    Load { reason: LibseccompError },

    #[error(
        "seccomp: loading the compiled filter into the kernel failed: {reason}; without \
         no_new_privs set the process needs CAP_SYS_ADMIN to load a filter"
    )]
    LoadRaw { reason: std::io::Error },

    #[error("seccomp: the filter is loaded but its notify fd cannot be obtained: {reason}")]
    NotifyFd { reason: LibseccompError },

    #[error(
        "seccomp: the container state for the seccomp agent is unusable: {reason}; it must \
         be the runtime-spec state JSON object with a pid"
    )]
    InvalidState { reason: String },

    #[error(
        "seccomp: cannot connect to listenerPath {path}: {reason}; check that the seccomp \
         agent is listening on that unix socket"
    )]
    ListenerConnect {
        path: PathBuf,
        reason: std::io::Error,
    },

    #[error("seccomp: cannot send the notify fd and state to listenerPath {path}: {reason}")]
    ListenerSend {
        path: PathBuf,
        reason: std::io::Error,
    },
}

/// Builds (but does not load) the filter described by `cfg`.
///
/// Follows runc: `SCMP_ACT_KILL` means kill-thread, syscall names this
/// libseccomp does not know are skipped, rules whose action equals the
/// default action are skipped (libseccomp rejects them), and a rule with
/// several conditions on the same argument index becomes one rule per
/// condition (so they are OR-ed; libseccomp would AND them, which for the
/// usual `NE`/`EQ` lists matches nothing).
///
/// No-new-privileges is left alone: it follows `process.noNewPrivileges`, so
/// without it the loading process needs `CAP_SYS_ADMIN`.
pub fn build_filter(cfg: &LinuxSeccomp) -> Result<ScmpFilterContext, SeccompError> {
    let default_action = to_action(
        cfg.default_action(),
        cfg.default_errno_ret(),
        "defaultAction",
    )?;
    if default_action == ScmpAction::Notify {
        return Err(SeccompError::NotifyAsDefault);
    }
    let syscalls: &[LinuxSyscall] = cfg.syscalls().as_deref().unwrap_or_default();
    check_notify_rules(syscalls)?;

    let mut ctx =
        ScmpFilterContext::new(default_action).map_err(|reason| SeccompError::Filter {
            what: format!(
                "create a filter with default action {}",
                cfg.default_action()
            ),
            reason,
        })?;
    ctx.set_ctl_nnp(false)
        .map_err(|reason| SeccompError::Filter {
            what: "leave no_new_privs to process.noNewPrivileges".to_owned(),
            reason,
        })?;

    // The native architecture is always in a new filter; libseccomp treats
    // adding it again as success, and runc never removes it either.
    for arch in cfg.architectures().as_deref().unwrap_or_default() {
        ctx.add_arch(to_arch(*arch))
            .map_err(|reason| SeccompError::Arch {
                arch: arch.to_string(),
                reason,
            })?;
    }

    for flag in cfg.flags().as_deref().unwrap_or_default() {
        set_flag(&mut ctx, *flag)?;
    }

    // Counted per name: Docker's default profile is a few dozen entries naming
    // some 350 syscalls, which as a linear filter cost every syscall of the
    // container hundreds of comparisons (measured: 15% more system time for a
    // bulk HTTP transfer out of a container).
    let names: usize = syscalls.iter().map(|r| r.names().len()).sum();
    if names > OPTIMIZE_ABOVE_RULES {
        // Only a speed-up; an older libseccomp without it still filters
        // correctly, so failure is not an error.
        let _ = ctx.set_ctl_optimize(2);
    }

    for (i, rule) in syscalls.iter().enumerate() {
        add_rule(&mut ctx, rule, i, default_action)?;
    }
    Ok(ctx)
}

/// Loads `ctx` into the kernel for the calling thread.
///
/// Returns the seccomp notify (listener) fd when the filter has a
/// `SCMP_ACT_NOTIFY` rule. libseccomp keeps the same fd number in its global
/// state; the caller owns it from here on and must not reset libseccomp's
/// global state.
pub fn load(ctx: &ScmpFilterContext) -> Result<Option<OwnedFd>, SeccompError> {
    ctx.load().map_err(|reason| SeccompError::Load { reason })?;
    if libseccomp::get_api() < NOTIFY_MIN_API_LEVEL {
        // No notify rule could have been added (build_filter refuses them).
        return Ok(None);
    }
    // libseccomp only creates a listener when the loaded filter has a notify
    // rule. Without one it has no fd to report, which libseccomp 2.5 turns
    // into EFAULT (newer versions report -1).
    let fd = match ctx.get_notify_fd() {
        Ok(fd) if fd >= 0 => fd,
        Ok(_) => return Ok(None),
        Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EFAULT) => return Ok(None),
        Err(reason) => return Err(SeccompError::NotifyFd { reason }),
    };
    // SAFETY: the kernel created this listener fd in seccomp_load and nothing
    // else in this process closes it (libseccomp only would on a global
    // reset, which the doc above rules out), so we may take ownership.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A filter ready to load: compiled BPF (from the cache or just compiled), or a
/// libseccomp context for what the raw path does not cover (notify rules, which
/// need the listener flag, and filter flags).
pub enum Prepared {
    Filter(ScmpFilterContext),
    Bpf(Vec<u8>),
}

/// Prepares `cfg` on the host side, before the container's processes fork: a
/// profile seen before is read from `cache_dir` as compiled BPF. Building Docker's
/// default profile with libseccomp costs about 20 ms per container; reading it back
/// costs a file read. The key covers the profile, the libseccomp version and the
/// architecture, so a changed profile or library never reuses an old program.
pub fn prepare(cfg: &LinuxSeccomp, cache_dir: Option<&Path>) -> Result<Prepared, SeccompError> {
    let cacheable = !uses_notify(cfg) && cfg.flags().as_deref().unwrap_or_default().is_empty();
    let Some(dir) = cache_dir.filter(|_| cacheable) else {
        return Ok(Prepared::Filter(build_filter(cfg)?));
    };
    let v = libseccomp::ScmpVersion::current().ok();
    let key = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(serde_json::to_vec(cfg).unwrap_or_default());
        h.update(format!("{v:?} {}", std::env::consts::ARCH).as_bytes());
        hex::encode(h.finalize())
    };
    let file = dir.join(format!("{key}.bpf"));
    if let Ok(bpf) = std::fs::read(&file) {
        if !bpf.is_empty() && bpf.chunks_exact(8).remainder().is_empty() {
            return Ok(Prepared::Bpf(bpf));
        }
    }
    let ctx = build_filter(cfg)?;
    let Some(bpf) = export(&ctx) else {
        return Ok(Prepared::Filter(ctx));
    };
    // A failed cache write only costs the next container the compile again.
    let _ = store(dir, &file, &bpf);
    Ok(Prepared::Bpf(bpf))
}

fn export(ctx: &ScmpFilterContext) -> Option<Vec<u8>> {
    let fd = rustix::fs::memfd_create("berth-seccomp", rustix::fs::MemfdFlags::CLOEXEC).ok()?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&f).ok()?;
    use std::io::{Read, Seek};
    f.seek(std::io::SeekFrom::Start(0)).ok()?;
    let mut bpf = Vec::new();
    f.read_to_end(&mut bpf).ok()?;
    (!bpf.is_empty() && bpf.chunks_exact(8).remainder().is_empty()).then_some(bpf)
}

fn store(dir: &Path, file: &Path, bpf: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, bpf)?;
    std::fs::rename(&tmp, file)
}

/// Where compiled filters are kept: beside the containers' state (a tmpfs under
/// /run normally, so a reboot clears it), readable by root only.
pub fn cache_dir(state_root: &Path) -> std::path::PathBuf {
    state_root.join(".seccomp-cache")
}

/// Loads a prepared filter for the calling thread; see [`load`].
pub fn load_prepared(p: &Prepared) -> Result<Option<OwnedFd>, SeccompError> {
    match p {
        Prepared::Filter(ctx) => load(ctx),
        Prepared::Bpf(bpf) => {
            crate::sys::seccomp_set_filter(bpf).map_err(|e| SeccompError::LoadRaw { reason: e })?;
            Ok(None)
        }
    }
}

/// Whether any rule of `cfg` uses `SCMP_ACT_NOTIFY`, i.e. whether
/// [`load`] will return a listener fd that must go to `listenerPath`.
pub fn uses_notify(cfg: &LinuxSeccomp) -> bool {
    cfg.syscalls()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// Sends the notify `fd` to the seccomp agent listening on `listener_path`,
/// as the runtime-spec's "container process state": one connection, the
/// JSON `{ociVersion, fds: ["seccompFd"], pid, metadata, state}` with the fd
/// attached via `SCM_RIGHTS` to the first `sendmsg`, then the connection is
/// closed.
///
/// `state_json` is the container's state (runtime-spec `state`) as JSON; its
/// `pid` is used as the container process pid. An empty `metadata` is left
/// out, as `listenerMetadata` is optional.
pub fn send_notify_fd(
    listener_path: &Path,
    fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: &str,
) -> Result<(), SeccompError> {
    let stream =
        UnixStream::connect(listener_path).map_err(|reason| SeccompError::ListenerConnect {
            path: listener_path.to_owned(),
            reason,
        })?;
    send_notify_fd_on(stream, listener_path, fd, state_json, metadata)
}

/// [`send_notify_fd`] over a stream connected earlier: the runtime connects from the
/// host's mount namespace, while the fd only exists once the filter is loaded inside
/// the container, where `listener_path` cannot be reached.
pub fn send_notify_fd_on(
    mut stream: UnixStream,
    listener_path: &Path,
    fd: BorrowedFd<'_>,
    state_json: &[u8],
    metadata: &str,
) -> Result<(), SeccompError> {
    let payload = process_state_json(state_json, metadata)?;
    let send_err = |reason: std::io::Error| SeccompError::ListenerSend {
        path: listener_path.to_owned(),
        reason,
    };

    let fds = [fd];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(send_err(std::io::Error::other(
            "control buffer too small for one fd",
        )));
    }
    let sent = loop {
        match rustix::net::sendmsg(
            &stream,
            &[IoSlice::new(&payload)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other.map_err(|e| send_err(e.into()))?,
        }
    };
    // The spec allows more sendmsg calls for the rest, without fds.
    stream.write_all(&payload[sent..]).map_err(send_err)?;
    stream
        .shutdown(std::net::Shutdown::Both)
        .or_else(|e| {
            // The agent may already have closed its end after reading.
            if e.kind() == std::io::ErrorKind::NotConnected {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(send_err)
}

fn process_state_json(state_json: &[u8], metadata: &str) -> Result<Vec<u8>, SeccompError> {
    let state: serde_json::Value =
        serde_json::from_slice(state_json).map_err(|e| SeccompError::InvalidState {
            reason: e.to_string(),
        })?;
    let pid = state
        .get("pid")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| SeccompError::InvalidState {
            reason: "it has no numeric `pid`".to_owned(),
        })?;
    let mut msg = serde_json::Map::new();
    msg.insert("ociVersion".into(), PROCESS_STATE_OCI_VERSION.into());
    msg.insert("fds".into(), serde_json::json!(["seccompFd"]));
    msg.insert("pid".into(), pid.into());
    if !metadata.is_empty() {
        msg.insert("metadata".into(), metadata.into());
    }
    msg.insert("state".into(), state);
    serde_json::to_vec(&serde_json::Value::Object(msg)).map_err(|e| SeccompError::InvalidState {
        reason: e.to_string(),
    })
}

fn check_notify_rules(syscalls: &[LinuxSyscall]) -> Result<(), SeccompError> {
    let notify_rules = syscalls
        .iter()
        .filter(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    let mut any = false;
    for rule in notify_rules {
        any = true;
        if rule.names().iter().any(|n| n == "write") {
            return Err(SeccompError::NotifyOnWrite);
        }
    }
    let api_level = libseccomp::get_api();
    if any && api_level < NOTIFY_MIN_API_LEVEL {
        return Err(SeccompError::NotifyUnsupported { api_level });
    }
    Ok(())
}

fn errno_ret_u16(value: u32, field: &str) -> Result<u16, SeccompError> {
    u16::try_from(value).map_err(|_| SeccompError::ErrnoRetOutOfRange {
        field: field.to_owned(),
        value,
    })
}

fn to_action(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    field: &str,
) -> Result<ScmpAction, SeccompError> {
    use LinuxSeccompAction as A;
    // The runtime-spec default for a missing errnoRet is EPERM (1).
    let eperm = libc::EPERM as u16;
    match action {
        A::ScmpActErrno => {
            let ret = errno_ret
                .map(|v| errno_ret_u16(v, field))
                .transpose()?
                .unwrap_or(eperm);
            return Ok(ScmpAction::Errno(i32::from(ret)));
        }
        A::ScmpActTrace => {
            let ret = errno_ret
                .map(|v| errno_ret_u16(v, field))
                .transpose()?
                .unwrap_or(eperm);
            return Ok(ScmpAction::Trace(ret));
        }
        _ => {}
    }
    if errno_ret.is_some() {
        return Err(SeccompError::ErrnoRetNotAllowed {
            field: field.to_owned(),
            action,
        });
    }
    Ok(match action {
        // SCMP_ACT_KILL predates KILL_PROCESS and has always meant the thread.
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActNotify => ScmpAction::Notify,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActErrno | A::ScmpActTrace => unreachable!("handled above"),
    })
}

fn to_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Every architecture the runtime-spec (and oci-spec) names, with the
/// `SCMP_ARCH_*` spelling used in config.json.
pub(crate) const ALL_ARCHS: &[(&str, ScmpArch)] = &[
    ("SCMP_ARCH_AARCH64", ScmpArch::Aarch64),
    ("SCMP_ARCH_ARM", ScmpArch::Arm),
    ("SCMP_ARCH_LOONGARCH64", ScmpArch::Loongarch64),
    ("SCMP_ARCH_M68K", ScmpArch::M68k),
    ("SCMP_ARCH_MIPS", ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", ScmpArch::Mips64),
    ("SCMP_ARCH_MIPS64N32", ScmpArch::Mips64N32),
    ("SCMP_ARCH_MIPSEL", ScmpArch::Mipsel),
    ("SCMP_ARCH_MIPSEL64", ScmpArch::Mipsel64),
    ("SCMP_ARCH_MIPSEL64N32", ScmpArch::Mipsel64N32),
    ("SCMP_ARCH_PARISC", ScmpArch::Parisc),
    ("SCMP_ARCH_PARISC64", ScmpArch::Parisc64),
    ("SCMP_ARCH_PPC", ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", ScmpArch::Ppc64),
    ("SCMP_ARCH_PPC64LE", ScmpArch::Ppc64Le),
    ("SCMP_ARCH_RISCV64", ScmpArch::Riscv64),
    ("SCMP_ARCH_S390", ScmpArch::S390),
    ("SCMP_ARCH_S390X", ScmpArch::S390X),
    ("SCMP_ARCH_SH", ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", ScmpArch::Sheb),
    ("SCMP_ARCH_X32", ScmpArch::X32),
    ("SCMP_ARCH_X86", ScmpArch::X86),
    ("SCMP_ARCH_X86_64", ScmpArch::X8664),
];

/// The architectures the linked libseccomp can build filters for. A
/// libseccomp without an arch's syscall table cannot resolve any name for it.
pub fn supported_archs() -> Vec<&'static str> {
    ALL_ARCHS
        .iter()
        .filter(|(_, arch)| ScmpSyscall::from_name_by_arch("close", *arch).is_ok())
        .map(|(name, _)| *name)
        .collect()
}

/// Filter flags berth recognises (`SECCOMP_FILTER_FLAG_TSYNC` is accepted
/// and ignored: the init is single-threaded when it loads the filter).
pub const KNOWN_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The subset of [`KNOWN_FLAGS`] the linked libseccomp and the running
/// kernel can set (probed on a throw-away filter).
pub fn supported_flags() -> Vec<&'static str> {
    use LinuxSeccompFilterFlag as F;
    let flags = [
        ("SECCOMP_FILTER_FLAG_TSYNC", F::SeccompFilterFlagTsync),
        ("SECCOMP_FILTER_FLAG_LOG", F::SeccompFilterFlagLog),
        (
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            F::SeccompFilterFlagSpecAllow,
        ),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            F::SeccompFilterFlagWaitKillableRecv,
        ),
    ];
    let Ok(mut probe) = ScmpFilterContext::new(ScmpAction::Allow) else {
        return Vec::new();
    };
    flags
        .into_iter()
        .filter(|(_, flag)| set_flag(&mut probe, *flag).is_ok())
        .map(|(name, _)| name)
        .collect()
}

fn set_flag(ctx: &mut ScmpFilterContext, flag: LinuxSeccompFilterFlag) -> Result<(), SeccompError> {
    use LinuxSeccompFilterFlag as F;
    let result = match flag {
        // Filters apply per thread, and the init is single-threaded and
        // about to exec, so there is nothing to synchronise.
        F::SeccompFilterFlagTsync => return Ok(()),
        F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
        F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
        F::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
    };
    result.map(|_| ()).map_err(|reason| SeccompError::Flag {
        flag: flag_name(flag).to_owned(),
        reason,
    })
}

fn flag_name(flag: LinuxSeccompFilterFlag) -> &'static str {
    use LinuxSeccompFilterFlag as F;
    match flag {
        F::SeccompFilterFlagTsync => "SECCOMP_FILTER_FLAG_TSYNC",
        F::SeccompFilterFlagLog => "SECCOMP_FILTER_FLAG_LOG",
        F::SeccompFilterFlagSpecAllow => "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        F::SeccompFilterFlagWaitKillableRecv => "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    }
}

fn to_compare(arg: &LinuxSeccompArg) -> ScmpArgCompare {
    // u32 cannot overflow: the index was checked against MAX_SYSCALL_ARGS.
    let index = arg.index() as u32;
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // For MASKED_EQ the spec's `value` is the mask and `valueTwo` the
        // value the masked argument must equal (libseccomp's datum_a/datum_b).
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            );
        }
    };
    ScmpArgCompare::new(index, op, arg.value())
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    position: usize,
    default_action: ScmpAction,
) -> Result<(), SeccompError> {
    let field = format!("syscalls[{position}] ({})", rule.names().join(","));
    let action = to_action(rule.action(), rule.errno_ret(), &field)?;
    if action == default_action {
        // libseccomp refuses rules that repeat the default action, and they
        // change nothing anyway.
        return Ok(());
    }
    let args: &[LinuxSeccompArg] = rule.args().as_deref().unwrap_or_default();

    for name in rule.names() {
        if name.is_empty() {
            return Err(SeccompError::EmptySyscallName);
        }
        if let Some(bad) = args.iter().find(|a| a.index() >= MAX_SYSCALL_ARGS) {
            return Err(SeccompError::ArgIndex {
                syscall: name.clone(),
                index: bad.index(),
            });
        }
        // Profiles list syscalls of many kernels and arches (Docker's default
        // does); one this libseccomp cannot name is simply not filterable here.
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        let add_err = |reason| SeccompError::Filter {
            what: format!("add the {field} rule for syscall `{name}`"),
            reason,
        };

        let mut seen = [false; MAX_SYSCALL_ARGS];
        let same_index_twice = args
            .iter()
            .any(|a| std::mem::replace(&mut seen[a.index()], true));
        let conditions: Vec<ScmpArgCompare> = args.iter().map(to_compare).collect();
        if conditions.is_empty() {
            ctx.add_rule(action, syscall).map_err(add_err)?;
        } else if same_index_twice {
            for cond in &conditions {
                ctx.add_rule_conditional(action, syscall, std::slice::from_ref(cond))
                    .map_err(add_err)?;
            }
        } else {
            ctx.add_rule_conditional(action, syscall, &conditions)
                .map_err(add_err)?;
        }
    }
    Ok(())
}

/// The linked libseccomp's version (0.0.0 if it cannot be read).
pub fn library_version() -> (u32, u32, u32) {
    libseccomp::ScmpVersion::current()
        .map(|v| (v.major, v.minor, v.micro))
        .unwrap_or((0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};
    use std::time::{Duration, Instant};

    fn seccomp_from_json(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).expect("valid LinuxSeccomp JSON")
    }

    /// Few entries naming many syscalls (as Docker's default profile is) get the
    /// binary tree; a short filter stays linear.
    #[test]
    fn binary_tree_counts_syscall_names_not_entries() {
        let ctx = build_filter(&docker_like()).unwrap();
        assert_eq!(ctx.get_ctl_optimize().unwrap(), 2);
        let short = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert_eq!(build_filter(&short).unwrap().get_ctl_optimize().unwrap(), 1);
    }

    /// A shortened Docker default profile: errno default, several arches,
    /// masked and same-index argument filters, names unknown to libseccomp.
    fn docker_like() -> LinuxSeccomp {
        seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["accept", "accept4", "access", "arch_prctl", "bind", "brk",
                           "close", "connect", "dup", "dup2", "dup3", "epoll_wait",
                           "execve", "exit", "exit_group", "futex", "getpid", "mmap",
                           "mprotect", "munmap", "openat", "read", "rt_sigaction",
                           "socketcall", "write", "no_such_syscall_berth"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"},
                          {"index": 0, "value": 16, "op": "SCMP_CMP_NE"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_GT"},
                          {"index": 0, "value": 1, "op": "SCMP_CMP_NE"}]},
                {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["kexec_load"], "action": "SCMP_ACT_KILL"},
                {"names": ["acct"], "action": "SCMP_ACT_TRAP"},
                {"names": ["swapon"], "action": "SCMP_ACT_LOG"},
                {"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}
            ]
        }))
    }

    #[test]
    fn prepared_filters_are_cached_as_bpf() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let first = prepare(&docker_like(), Some(&cache)).unwrap();
        let Prepared::Bpf(bpf) = first else {
            panic!("a plain profile compiles to BPF")
        };
        assert!(bpf.chunks_exact(8).remainder().is_empty());
        let files: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert_eq!(files.len(), 1);
        // The second preparation reads the same program back.
        let Prepared::Bpf(again) = prepare(&docker_like(), Some(&cache)).unwrap() else {
            panic!("cached")
        };
        assert_eq!(bpf, again);
        // A different profile gets its own entry.
        let mut other = docker_like();
        other.set_default_errno_ret(Some(13));
        prepare(&other, Some(&cache)).unwrap();
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    }

    #[test]
    fn notify_profiles_stay_with_libseccomp() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/nonexistent",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        if libseccomp::get_api() < NOTIFY_MIN_API_LEVEL {
            return;
        }
        assert!(matches!(
            prepare(&cfg, Some(dir.path())).unwrap(),
            Prepared::Filter(_)
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn builds_docker_like_profile_for_several_arches() {
        let ctx = build_filter(&docker_like()).expect("filter builds");
        for arch in [ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32] {
            assert!(ctx.is_arch_present(arch).unwrap(), "{arch:?} present");
        }
        assert_eq!(ctx.get_act_default().unwrap(), ScmpAction::Errno(1));
        assert!(!ctx.get_ctl_nnp().unwrap(), "nnp is left to the caller");
        // The BPF program can be generated, i.e. the rule set is coherent.
        let bpf = tempfile::tempfile().unwrap();
        ctx.export_bpf(&bpf).unwrap();
        assert!(bpf.metadata().unwrap().len() > 0);
    }

    #[test]
    fn native_arch_listed_explicitly_is_fine() {
        let native = if cfg!(target_arch = "x86_64") {
            "SCMP_ARCH_X86_64"
        } else if cfg!(target_arch = "aarch64") {
            "SCMP_ARCH_AARCH64"
        } else {
            "SCMP_ARCH_NATIVE"
        };
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": [native, native, "SCMP_ARCH_NATIVE"],
        }));
        build_filter(&cfg).expect("adding the native arch again is not an error");
    }

    #[test]
    fn rule_equal_to_default_is_skipped() {
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [
                {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}
            ]
        }));
        build_filter(&cfg).expect("redundant rule skipped, not rejected");
    }

    #[test]
    fn unknown_syscall_names_are_skipped() {
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["definitely_not_a_syscall"], "action": "SCMP_ACT_ERRNO"}]
        }));
        build_filter(&cfg).expect("unknown names are ignored like runc does");
    }

    #[test]
    fn rejects_bad_configs() {
        let notify_default = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_NOTIFY"
        }));
        assert!(matches!(
            build_filter(&notify_default),
            Err(SeccompError::NotifyAsDefault)
        ));

        let notify_write = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(matches!(
            build_filter(&notify_write),
            Err(SeccompError::NotifyOnWrite)
        ));

        let errno_on_allow = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}]
        }));
        let err = build_filter(&errno_on_allow).unwrap_err();
        assert!(matches!(err, SeccompError::ErrnoRetNotAllowed { .. }));
        assert!(err.to_string().contains("syscalls[0] (read)"), "{err}");

        let default_errno_on_kill = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_KILL",
            "defaultErrnoRet": 5
        }));
        let err = build_filter(&default_errno_on_kill).unwrap_err();
        assert!(err.to_string().contains("defaultAction"), "{err}");

        let big_errno = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]
        }));
        assert!(matches!(
            build_filter(&big_errno),
            Err(SeccompError::ErrnoRetOutOfRange { value: 70000, .. })
        ));

        let bad_index = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]
        }));
        let err = build_filter(&bad_index).unwrap_err();
        assert!(
            matches!(&err, SeccompError::ArgIndex { syscall, index: 6 } if syscall == "read"),
            "{err}"
        );

        let empty_name = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert!(matches!(
            build_filter(&empty_name),
            Err(SeccompError::EmptySyscallName)
        ));
    }

    #[test]
    fn flags_are_applied() {
        let mut cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]
        }));
        build_filter(&cfg).expect("TSYNC is accepted and ignored");

        let supported = supported_flags();
        if supported.contains(&"SECCOMP_FILTER_FLAG_LOG") {
            cfg.set_flags(Some(vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog]));
            let ctx = build_filter(&cfg).unwrap();
            assert!(ctx.get_ctl_log().unwrap());
        }
        if !supported.contains(&"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV") {
            cfg.set_flags(Some(vec![
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv,
            ]));
            let err = build_filter(&cfg).unwrap_err();
            assert!(
                err.to_string()
                    .contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
                "{err}"
            );
        }
    }

    #[test]
    fn uses_notify_detects_notify_rules() {
        assert!(!uses_notify(&docker_like()));
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        assert!(uses_notify(&cfg));
    }

    #[test]
    fn process_state_wraps_state() {
        let state =
            br#"{"ociVersion":"1.2.0","id":"c1","status":"creating","pid":42,"bundle":"/b"}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&process_state_json(state, "meta").unwrap()).unwrap();
        assert_eq!(out["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(out["pid"], 42);
        assert_eq!(out["metadata"], "meta");
        assert_eq!(out["state"]["id"], "c1");
        assert_eq!(out["ociVersion"], PROCESS_STATE_OCI_VERSION);

        let out: serde_json::Value =
            serde_json::from_slice(&process_state_json(state, "").unwrap()).unwrap();
        assert!(out.get("metadata").is_none());

        assert!(matches!(
            process_state_json(br#"{"id":"c1"}"#, ""),
            Err(SeccompError::InvalidState { .. })
        ));
    }

    /// Forks; the child runs `child` (which must only make plain syscalls
    /// and return an exit status), the parent returns the raw wait status.
    fn in_child(child: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the child only runs `child`, which makes plain syscalls
        // (glibc keeps malloc usable after fork), then leaves with _exit
        // without running destructors or touching the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let code = child();
            // SAFETY: _exit ends the forked child without unwinding into
            // the parent's copy of the test harness.
            unsafe { libc::_exit(code) };
        }
        wait_for(pid)
    }

    fn wait_for(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        loop {
            // SAFETY: pid is our own child, status is a valid out-pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                return status;
            }
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EINTR),
                "waitpid failed"
            );
        }
    }

    fn set_nnp() -> bool {
        rustix::thread::set_no_new_privs(true).is_ok()
    }

    fn mkdir_errno(path: &std::ffi::CStr) -> i32 {
        // SAFETY: path is a valid NUL-terminated string.
        let r = unsafe { libc::mkdir(path.as_ptr(), 0o700) };
        if r == 0 {
            0
        } else {
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(255)
        }
    }

    fn mkdir_rule(action: &str, errno: Option<u32>) -> LinuxSeccomp {
        let mut rule = serde_json::json!({"names": ["mkdir", "mkdirat"], "action": action});
        if let Some(e) = errno {
            rule["errnoRet"] = e.into();
        }
        seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule]
        }))
    }

    fn target_dir() -> (tempfile::TempDir, std::ffi::CString) {
        let dir = tempfile::tempdir().unwrap();
        let path = std::ffi::CString::new(dir.path().join("sub").to_str().unwrap()).unwrap();
        (dir, path)
    }

    #[test]
    fn loaded_errno_rule_returns_configured_errno() {
        let ctx = build_filter(&mkdir_rule("SCMP_ACT_ERRNO", Some(38))).unwrap();
        let (_dir, path) = target_dir();
        let status = in_child(|| {
            if !set_nnp() {
                return 200;
            }
            match load(&ctx) {
                Ok(None) => mkdir_errno(&path),
                Ok(Some(_)) => 201,
                Err(_) => 202,
            }
        });
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), libc::ENOSYS);
    }

    #[test]
    fn same_index_conditions_are_ored_like_runc() {
        // Two EQ conditions on one index can never both hold; runc turns
        // them into two rules so either value matches.
        let cfg = seccomp_from_json(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                          "args": [{"index": 0, "value": 900, "op": "SCMP_CMP_EQ"},
                                   {"index": 0, "value": 901, "op": "SCMP_CMP_EQ"}]}]
        }));
        let ctx = build_filter(&cfg).unwrap();
        let dup_errno = |fd: i32| {
            // SAFETY: dup on an fd number that is not open only sets errno.
            let r = unsafe { libc::dup(fd) };
            assert!(r < 0);
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        };
        let status = in_child(|| {
            if !set_nnp() || load(&ctx).is_err() {
                return 200;
            }
            let results = [dup_errno(900), dup_errno(901), dup_errno(902)];
            if results == [libc::ENOSYS, libc::ENOSYS, libc::EBADF] {
                0
            } else {
                1
            }
        });
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }

    #[test]
    fn loaded_kill_rule_kills_with_sigsys() {
        let ctx = build_filter(&mkdir_rule("SCMP_ACT_KILL", None)).unwrap();
        let (_dir, path) = target_dir();
        let status = in_child(|| {
            if !set_nnp() || load(&ctx).is_err() {
                return 200;
            }
            mkdir_errno(&path);
            201
        });
        assert!(libc::WIFSIGNALED(status), "child status {status:#x}");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }

    #[test]
    fn notify_fd_reaches_listener_and_agent_answers() {
        if libseccomp::get_api() < NOTIFY_MIN_API_LEVEL {
            eprintln!("skipped: libseccomp API level too low for notify");
            return;
        }
        let cfg = mkdir_rule("SCMP_ACT_NOTIFY", None);
        assert!(uses_notify(&cfg));
        let ctx = build_filter(&cfg).unwrap();
        let (dir, path) = target_dir();
        let sock = dir.path().join("agent.sock");
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = br#"{"ociVersion":"1.2.0","id":"t","status":"creating","pid":7,"bundle":"/b"}"#;

        // SAFETY: see in_child; the child makes plain syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = (|| {
                if !set_nnp() {
                    return 200;
                }
                let Ok(Some(fd)) = load(&ctx) else {
                    return 201;
                };
                if send_notify_fd(&sock, fd.as_fd(), state, "meta").is_err() {
                    return 202;
                }
                mkdir_errno(&path)
            })();
            // SAFETY: leave the forked child without running the harness.
            unsafe { libc::_exit(code) };
        }

        let deadline = Instant::now() + Duration::from_secs(20);
        let conn = loop {
            match listener.accept() {
                Ok((conn, _)) => break conn,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "child never connected");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();

        let mut buf = vec![0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let msg = rustix::net::recvmsg(
            &conn,
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut control,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let mut received: Vec<OwnedFd> = Vec::new();
        for m in control.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(fds) = m {
                received.extend(fds);
            }
        }
        let mut body = buf[..msg.bytes].to_vec();
        let mut rest = Vec::new();
        std::io::Read::read_to_end(&mut &conn, &mut rest).unwrap();
        body.extend(rest);
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(doc["metadata"], "meta");
        assert_eq!(doc["pid"], 7);
        assert_eq!(doc["state"]["id"], "t");
        assert_eq!(received.len(), 1, "exactly one fd via SCM_RIGHTS");

        let notify_fd = received[0].as_raw_fd();
        let req = libseccomp::ScmpNotifReq::receive(notify_fd).unwrap();
        assert_eq!(req.pid, pid as u32);
        libseccomp::ScmpNotifResp::new_error(
            req.id,
            -libc::EXDEV,
            libseccomp::ScmpNotifRespFlags::empty(),
        )
        .respond(notify_fd)
        .unwrap();

        let status = wait_for(pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), libc::EXDEV);
    }
}
