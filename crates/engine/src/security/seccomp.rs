//! The default seccomp profile, and Docker-format profiles from
//! `--security-opt seccomp=FILE`.
//!
//! The default follows the policy Docker Engine ships as its default seccomp
//! profile as of release 25.0.3 (the release that added futex_wake,
//! futex_wait and futex_requeue to 25.0): deny with EPERM, allow a fixed
//! list, allow a few more per capability and per architecture, and keep
//! namespace creation out of reach without CAP_SYS_ADMIN. Its rules are kept
//! in the same shape as Docker's file (conditions on capabilities,
//! architectures and kernel version), so the built-in table and a
//! user-supplied file go through one and the same filter.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::{Deserialize, Deserializer};

use super::SecurityError;

use LinuxSeccompAction::{ScmpActAllow as ALLOW, ScmpActErrno as ERRNO};
use LinuxSeccompOperator::{ScmpCmpEq as EQ, ScmpCmpMaskedEq as MASKED_EQ, ScmpCmpNe as NE};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
const AF_VSOCK: u64 = 40;

/// The namespace flags of clone(2); a process without CAP_SYS_ADMIN must
/// not pass any of them. CLONE_NEWTIME is missing from Docker's mask because
/// it cannot be given to clone(2) (only to clone3 and unshare).
const CLONE_NAMESPACE_FLAGS: u64 = 0x0002_0000 // CLONE_NEWNS
    | 0x0200_0000 // CLONE_NEWCGROUP
    | 0x0400_0000 // CLONE_NEWUTS
    | 0x0800_0000 // CLONE_NEWIPC
    | 0x1000_0000 // CLONE_NEWUSER
    | 0x2000_0000 // CLONE_NEWPID
    | 0x4000_0000; // CLONE_NEWNET

/// personality(2) values a container may set: PER_LINUX, UNAME26,
/// PER_LINUX32, PER_LINUX32|UNAME26, and 0xffffffff, which only queries.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// A condition of a rule, as Docker's `includes`/`excludes`: capabilities,
/// architectures in Go's naming (`amd64`, `arm64`, ...), and a minimum
/// kernel version.
#[derive(Clone, Copy)]
struct When {
    caps: &'static [&'static str],
    arches: &'static [&'static str],
    min_kernel: Option<(u32, u32)>,
}

const ANY: When = When {
    caps: &[],
    arches: &[],
    min_kernel: None,
};

const fn cap(c: &'static [&'static str]) -> When {
    When {
        caps: c,
        arches: &[],
        min_kernel: None,
    }
}

const fn arch(a: &'static [&'static str]) -> When {
    When {
        caps: &[],
        arches: a,
        min_kernel: None,
    }
}

struct Rule {
    names: &'static [&'static str],
    action: LinuxSeccompAction,
    errno: Option<u32>,
    /// (argument index, value, operator); all must match.
    args: &'static [(usize, u64, LinuxSeccompOperator)],
    includes: When,
    excludes: When,
}

const fn allow(names: &'static [&'static str], includes: When) -> Rule {
    Rule {
        names,
        action: ALLOW,
        errno: None,
        args: &[],
        includes,
        excludes: ANY,
    }
}

const fn allow_personality(args: &'static [(usize, u64, LinuxSeccompOperator)]) -> Rule {
    Rule {
        names: &["personality"],
        action: ALLOW,
        errno: None,
        args,
        includes: ANY,
        excludes: ANY,
    }
}

/// Allowed for everyone: nothing here reaches beyond the caller's own
/// process, files and namespaces.
const ALWAYS_ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Everything CAP_SYS_ADMIN unlocks: mounts, namespaces, and the tracing and
/// kernel-facing calls that capability also governs.
const SYS_ADMIN_SYSCALLS: &[&str] = &[
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
];

const DEFAULT_RULES: &[Rule] = &[
    allow(ALWAYS_ALLOWED, ANY),
    // From 4.8 on, a ptrace'd process can no longer use ptrace to escape
    // its seccomp filter, so tracing one's own children is safe to allow.
    allow(
        &["process_vm_readv", "process_vm_writev", "ptrace"],
        When {
            min_kernel: Some((4, 8)),
            ..ANY
        },
    ),
    // AF_VSOCK is not namespaced: it would reach the host's hypervisor.
    Rule {
        names: &["socket"],
        action: ALLOW,
        errno: None,
        args: &[(0, AF_VSOCK, NE)],
        includes: ANY,
        excludes: ANY,
    },
    // One rule per value: the conditions of one rule must all hold.
    allow_personality(&[(0, PERSONALITIES[0], EQ)]),
    allow_personality(&[(0, PERSONALITIES[1], EQ)]),
    allow_personality(&[(0, PERSONALITIES[2], EQ)]),
    allow_personality(&[(0, PERSONALITIES[3], EQ)]),
    allow_personality(&[(0, PERSONALITIES[4], EQ)]),
    allow(&["sync_file_range2", "swapcontext"], arch(&["ppc64le"])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arch(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], arch(&["amd64", "x32"])),
    allow(&["modify_ldt"], arch(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arch(&["s390", "s390x"]),
    ),
    allow(&["riscv_flush_icache"], arch(&["riscv64"])),
    allow(&["open_by_handle_at"], cap(&["CAP_DAC_READ_SEARCH"])),
    allow(SYS_ADMIN_SYSCALLS, cap(&["CAP_SYS_ADMIN"])),
    // Threads and processes yes, new namespaces no.
    Rule {
        names: &["clone"],
        action: ALLOW,
        errno: None,
        args: &[(0, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        includes: ANY,
        excludes: When {
            caps: &["CAP_SYS_ADMIN"],
            arches: &["s390", "s390x"],
            min_kernel: None,
        },
    },
    // s390 swaps clone's first two arguments.
    Rule {
        names: &["clone"],
        action: ALLOW,
        errno: None,
        args: &[(1, CLONE_NAMESPACE_FLAGS, MASKED_EQ)],
        includes: arch(&["s390", "s390x"]),
        excludes: cap(&["CAP_SYS_ADMIN"]),
    },
    // clone3 passes its flags in memory, out of the filter's sight: ENOSYS
    // (not EPERM) makes glibc and others fall back to clone, which the rule
    // above can check.
    Rule {
        names: &["clone3"],
        action: ERRNO,
        errno: Some(ENOSYS),
        args: &[],
        includes: ANY,
        excludes: cap(&["CAP_SYS_ADMIN"]),
    },
    allow(&["reboot"], cap(&["CAP_SYS_BOOT"])),
    allow(&["chroot"], cap(&["CAP_SYS_CHROOT"])),
    allow(
        &["delete_module", "init_module", "finit_module"],
        cap(&["CAP_SYS_MODULE"]),
    ),
    allow(&["acct"], cap(&["CAP_SYS_PACCT"])),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        cap(&["CAP_SYS_PTRACE"]),
    ),
    allow(&["iopl", "ioperm"], cap(&["CAP_SYS_RAWIO"])),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        cap(&["CAP_SYS_TIME"]),
    ),
    allow(&["vhangup"], cap(&["CAP_SYS_TTY_CONFIG"])),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        cap(&["CAP_SYS_NICE"]),
    ),
    allow(&["syslog"], cap(&["CAP_SYSLOG"])),
    allow(&["bpf"], cap(&["CAP_BPF"])),
    allow(&["perf_event_open"], cap(&["CAP_PERFMON"])),
];

/// What the rules' conditions are checked against.
struct Target {
    /// Capability names, upper case with the CAP_ prefix.
    caps: BTreeSet<String>,
    /// The host architecture in Go's naming, which Docker profiles use.
    arch: &'static str,
    /// Major and minor of the running kernel; `None` if unknown.
    kernel: Option<(u32, u32)>,
}

impl Target {
    fn new<S: AsRef<str>>(caps: &[S], arch: &'static str, kernel: Option<(u32, u32)>) -> Target {
        Target {
            caps: caps.iter().map(|c| normalize_cap(c.as_ref())).collect(),
            arch,
            kernel,
        }
    }

    fn current<S: AsRef<str>>(caps: &[S]) -> Target {
        Target::new(caps, go_arch(), running_kernel())
    }

    fn kernel_at_least(&self, min: (u32, u32)) -> bool {
        // An unknown kernel is taken as too old: a rule that needs a newer
        // one stays out, which errs towards denying.
        self.kernel.is_some_and(|k| k >= min)
    }

    /// Docker's semantics: every listed capability is held, the host is one
    /// of the listed architectures, the kernel is at least the minimum.
    fn included<S: AsRef<str>>(&self, caps: &[S], arches: &[S], min: Option<(u32, u32)>) -> bool {
        (arches.is_empty() || arches.iter().any(|a| a.as_ref() == self.arch))
            && caps
                .iter()
                .all(|c| self.caps.contains(&normalize_cap(c.as_ref())))
            && min.is_none_or(|m| self.kernel_at_least(m))
    }

    /// Docker's semantics: any listed capability held, or the host is one of
    /// the listed architectures, or the kernel is at least the version given.
    fn excluded<S: AsRef<str>>(&self, caps: &[S], arches: &[S], min: Option<(u32, u32)>) -> bool {
        arches.iter().any(|a| a.as_ref() == self.arch)
            || caps
                .iter()
                .any(|c| self.caps.contains(&normalize_cap(c.as_ref())))
            || min.is_some_and(|m| self.kernel_at_least(m))
    }
}

fn normalize_cap(c: &str) -> String {
    let upper = c.trim().to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// The host's architecture as Go names it, since Docker profiles match
/// `arches` against Go's GOARCH.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The seccomp architecture of native syscalls on this host.
fn native_arch() -> Option<Arch> {
    Some(match std::env::consts::ARCH {
        "x86_64" => Arch::ScmpArchX86_64,
        "x86" => Arch::ScmpArchX86,
        "aarch64" => Arch::ScmpArchAarch64,
        "arm" => Arch::ScmpArchArm,
        "riscv64" => Arch::ScmpArchRiscv64,
        "s390x" => Arch::ScmpArchS390x,
        "mips64" if cfg!(target_endian = "little") => Arch::ScmpArchMipsel64,
        "mips64" => Arch::ScmpArchMips64,
        "powerpc64" if cfg!(target_endian = "little") => Arch::ScmpArchPpc64le,
        "powerpc64" => Arch::ScmpArchPpc64,
        "loongarch64" => Arch::ScmpArchLoongarch64,
        _ => return None,
    })
}

/// The other ABIs a native architecture's kernel also runs (32-bit and x32
/// binaries on x86_64, say): without them in the filter such a binary would
/// be killed instead of getting the profile's answers.
const ARCH_MAP: &[(Arch, &[Arch])] = &[
    (
        Arch::ScmpArchX86_64,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (
        Arch::ScmpArchMips64,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
    ),
    (
        Arch::ScmpArchMips64n32,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
    ),
    (
        Arch::ScmpArchMipsel64,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    ),
    (
        Arch::ScmpArchMipsel64n32,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
    ),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
    (Arch::ScmpArchRiscv64, &[]),
];

fn host_architectures() -> Option<Vec<Arch>> {
    let native = native_arch()?;
    let (main, subs) = ARCH_MAP.iter().find(|(a, _)| *a == native)?;
    Some(std::iter::once(*main).chain(subs.iter().copied()).collect())
}

fn running_kernel() -> Option<(u32, u32)> {
    let uname = rustix::system::uname();
    parse_kernel(uname.release().to_str().ok()?)
}

/// Major and minor of a version like `6.1`, `4.8.0` or `6.18.44-fc-v669`.
fn parse_kernel(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor_part = parts.next()?;
    let digits = minor_part
        .find(|c: char| !c.is_ascii_digit())
        .map_or(minor_part, |end| &minor_part[..end]);
    Some((major, digits.parse().ok()?))
}

fn syscall(
    names: Vec<String>,
    action: LinuxSeccompAction,
    errno: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names);
    s.set_action(action);
    s.set_errno_ret(errno);
    s.set_args((!args.is_empty()).then_some(args));
    s
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> LinuxSeccompArg {
    let b = LinuxSeccompArgBuilder::default()
        .index(index)
        .value(value)
        .op(op);
    // For MASKED_EQ the runtime compares (arg & value) with value_two;
    // spelling out the 0 keeps "no flag of the mask set" readable in
    // config.json.
    let b = if op == MASKED_EQ {
        b.value_two(0u64)
    } else {
        b
    };
    b.build()
        .expect("every LinuxSeccompArg field has a default, so building cannot fail")
}

/// Docker's default seccomp profile for a container holding `caps`, for
/// this host's architecture and kernel.
pub fn default_profile<S: AsRef<str>>(caps: &[S]) -> LinuxSeccomp {
    build_default(&Target::current(caps), host_architectures())
}

fn build_default(target: &Target, architectures: Option<Vec<Arch>>) -> LinuxSeccomp {
    let syscalls = DEFAULT_RULES
        .iter()
        .filter(|r| {
            target.included(r.includes.caps, r.includes.arches, r.includes.min_kernel)
                && !target.excluded(r.excludes.caps, r.excludes.arches, r.excludes.min_kernel)
        })
        .map(|r| {
            syscall(
                r.names.iter().map(|n| n.to_string()).collect(),
                r.action,
                r.errno,
                r.args.iter().map(|&(i, v, op)| arg(i, v, op)).collect(),
            )
        })
        .collect();
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(ERRNO);
    profile.set_default_errno_ret(Some(EPERM));
    profile.set_architectures(architectures);
    profile.set_syscalls(Some(syscalls));
    profile
}

/// Reads a Docker-format seccomp profile (`--security-opt seccomp=FILE`) and
/// turns it into the runtime-spec form for a container holding `caps` on
/// this host: `archMap` narrowed to the host's architectures, and each rule
/// kept or left out by its `includes`/`excludes`.
pub fn load_profile<S: AsRef<str>>(path: &Path, caps: &[S]) -> Result<LinuxSeccomp, SecurityError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecurityError::ProfileRead {
        path: path.to_path_buf(),
        source,
    })?;
    convert(path, &text, &Target::current(caps), native_arch())
}

/// Docker's profile file. Fields Docker allows to be `null` read as empty.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerProfile {
    default_action: LinuxSeccompAction,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    architectures: Vec<Arch>,
    #[serde(default, deserialize_with = "null_as_default")]
    arch_map: Vec<DockerArchMap>,
    #[serde(default, deserialize_with = "null_as_default")]
    flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default)]
    listener_path: Option<std::path::PathBuf>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    syscalls: Vec<DockerSyscall>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerArchMap {
    architecture: Arch,
    #[serde(default, deserialize_with = "null_as_default")]
    sub_architectures: Vec<Arch>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerSyscall {
    /// The single-name form older profiles use.
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    names: Vec<String>,
    action: LinuxSeccompAction,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "null_as_default")]
    args: Vec<LinuxSeccompArg>,
    #[serde(default, deserialize_with = "null_as_default")]
    includes: DockerFilter,
    #[serde(default, deserialize_with = "null_as_default")]
    excludes: DockerFilter,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DockerFilter {
    #[serde(default, deserialize_with = "null_as_default")]
    caps: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    arches: Vec<String>,
    #[serde(default)]
    min_kernel: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Linux syscalls take at most six arguments.
const MAX_ARG_INDEX: usize = 5;

fn convert(
    path: &Path,
    text: &str,
    target: &Target,
    native: Option<Arch>,
) -> Result<LinuxSeccomp, SecurityError> {
    let invalid = |problem: String| SecurityError::ProfileInvalid {
        path: path.to_path_buf(),
        problem,
    };
    let docker: DockerProfile =
        serde_json::from_str(text).map_err(|source| SecurityError::ProfileParse {
            path: path.to_path_buf(),
            source,
        })?;

    if !docker.architectures.is_empty() && !docker.arch_map.is_empty() {
        return Err(invalid(
            "sets both `architectures` and `archMap`; keep only one of them".into(),
        ));
    }
    let mut architectures = docker.architectures;
    if let Some(native) = native {
        // Several entries may name the host's architecture; each adds its
        // sub-architectures, and each architecture is listed once.
        for entry in docker.arch_map.iter().filter(|e| e.architecture == native) {
            for a in std::iter::once(&entry.architecture).chain(&entry.sub_architectures) {
                if !architectures.contains(a) {
                    architectures.push(*a);
                }
            }
        }
    }

    let mut syscalls = Vec::new();
    for (i, rule) in docker.syscalls.into_iter().enumerate() {
        let names = match (rule.name, rule.names.is_empty()) {
            (Some(_), false) => {
                return Err(invalid(format!(
                    "syscalls[{i}] sets both `name` and `names`; keep only one of them"
                )))
            }
            (Some(name), true) => vec![name],
            (None, false) => rule.names,
            (None, true) => {
                return Err(invalid(format!(
                    "syscalls[{i}] names no syscall; give it `names`"
                )))
            }
        };
        if let Some(a) = rule.args.iter().find(|a| a.index() > MAX_ARG_INDEX) {
            return Err(invalid(format!(
                "syscalls[{i}] ({}) tests argument index {}, but syscalls have arguments \
                 0 to {MAX_ARG_INDEX} only",
                names.join(", "),
                a.index()
            )));
        }
        let min_kernel = |f: &DockerFilter, which: &str| {
            f.min_kernel
                .as_deref()
                .map(|v| {
                    parse_min_kernel(v).ok_or_else(|| {
                        invalid(format!(
                            "syscalls[{i}].{which}.minKernel {v:?} is not a kernel version \
                             of the form MAJOR.MINOR (e.g. \"4.8\")"
                        ))
                    })
                })
                .transpose()
        };
        let inc_min = min_kernel(&rule.includes, "includes")?;
        let exc_min = min_kernel(&rule.excludes, "excludes")?;
        if !target.included(&rule.includes.caps, &rule.includes.arches, inc_min)
            || target.excluded(&rule.excludes.caps, &rule.excludes.arches, exc_min)
        {
            continue;
        }
        syscalls.push(syscall(names, rule.action, rule.errno_ret, rule.args));
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(docker.default_action);
    profile.set_default_errno_ret(docker.default_errno_ret);
    profile.set_architectures((!architectures.is_empty()).then_some(architectures));
    profile.set_flags((!docker.flags.is_empty()).then_some(docker.flags));
    profile.set_listener_path(docker.listener_path);
    profile.set_listener_metadata(docker.listener_metadata);
    profile.set_syscalls(Some(syscalls));
    Ok(profile)
}

/// Docker's `minKernel`: `MAJOR.MINOR`, optionally with a patch level.
fn parse_min_kernel(v: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = v.split('.').collect();
    if !(2..=3).contains(&parts.len())
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((parts[0].parse().ok()?, parts[1].parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::DEFAULT_CAPS;

    fn rules_for<'a>(p: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    /// Allowed with no argument condition.
    fn plainly_allowed(p: &LinuxSeccomp, name: &str) -> bool {
        rules_for(p, name)
            .iter()
            .any(|s| s.action() == ALLOW && s.args().is_none())
    }

    fn amd64(caps: &[&str]) -> LinuxSeccomp {
        build_default(
            &Target::new(caps, "amd64", Some((6, 1))),
            host_architectures(),
        )
    }

    #[test]
    fn denies_with_eperm_by_default() {
        let p = default_profile(DEFAULT_CAPS);
        assert_eq!(p.default_action(), ERRNO);
        assert_eq!(p.default_errno_ret(), Some(EPERM));
    }

    #[test]
    fn everyday_syscalls_are_allowed() {
        let p = default_profile(DEFAULT_CAPS);
        for name in [
            "read",
            "write",
            "exit_group",
            "execve",
            "openat",
            "mmap",
            "futex_wake",
        ] {
            assert!(plainly_allowed(&p, name), "{name} not allowed");
        }
    }

    #[test]
    fn privileged_syscalls_are_denied_without_their_capability() {
        let p = amd64(DEFAULT_CAPS);
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "reboot",
            "kexec_load",
            "init_module",
            "bpf",
            "open_by_handle_at",
            "clock_settime",
            "acct",
        ] {
            assert!(rules_for(&p, name).is_empty(), "{name} has a rule");
        }
        // Default caps include CAP_SYS_CHROOT.
        assert!(plainly_allowed(&p, "chroot"));
        assert!(rules_for(&amd64(&[]), "chroot").is_empty());
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let p = amd64(&["CAP_SYS_ADMIN"]);
        for name in ["mount", "umount2", "unshare", "setns", "clone", "clone3"] {
            assert!(plainly_allowed(&p, name), "{name}");
        }
        assert!(plainly_allowed(&amd64(&["sys_boot"]), "reboot"));
        assert!(plainly_allowed(&amd64(&["CAP_SYS_MODULE"]), "finit_module"));
        assert!(plainly_allowed(&amd64(&["CAP_SYS_PTRACE"]), "kcmp"));
        assert!(plainly_allowed(
            &amd64(&["CAP_DAC_READ_SEARCH"]),
            "open_by_handle_at"
        ));
        assert!(plainly_allowed(&amd64(&["CAP_BPF"]), "bpf"));
        assert!(plainly_allowed(&amd64(&["CAP_PERFMON"]), "perf_event_open"));
        // kexec is in no list at all.
        assert!(rules_for(&amd64(&["CAP_SYS_BOOT", "CAP_SYS_ADMIN"]), "kexec_load").is_empty());
    }

    #[test]
    fn clone_without_sys_admin_is_masked_and_clone3_gets_enosys() {
        let p = amd64(DEFAULT_CAPS);
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().as_ref().unwrap();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), MASKED_EQ);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert_eq!(args[0].value_two(), Some(0));

        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0].action(), ERRNO);
        assert_eq!(clone3[0].errno_ret(), Some(ENOSYS));

        let admin = amd64(&["CAP_SYS_ADMIN"]);
        assert!(rules_for(&admin, "clone3")
            .iter()
            .all(|s| s.action() == ALLOW));
        assert!(rules_for(&admin, "clone")
            .iter()
            .all(|s| s.args().is_none()));
    }

    #[test]
    fn personality_only_for_the_listed_values() {
        let p = amd64(DEFAULT_CAPS);
        let rules = rules_for(&p, "personality");
        let values: Vec<u64> = rules
            .iter()
            .map(|s| {
                let a = s.args().as_ref().expect("personality without condition");
                assert_eq!(a.len(), 1);
                assert_eq!(a[0].op(), EQ);
                a[0].value()
            })
            .collect();
        assert_eq!(values, PERSONALITIES);
    }

    #[test]
    fn arch_extras_follow_the_arch() {
        let x86 = amd64(&[]);
        assert!(plainly_allowed(&x86, "arch_prctl"));
        assert!(plainly_allowed(&x86, "modify_ldt"));
        assert!(rules_for(&x86, "set_tls").is_empty());
        let arm = build_default(&Target::new(&[] as &[&str], "arm64", Some((6, 1))), None);
        assert!(plainly_allowed(&arm, "set_tls"));
        assert!(rules_for(&arm, "arch_prctl").is_empty());
    }

    #[test]
    fn ptrace_needs_kernel_4_8_without_the_capability() {
        let new = amd64(&[]);
        assert!(plainly_allowed(&new, "ptrace"));
        let old = build_default(&Target::new(&[] as &[&str], "amd64", Some((4, 4))), None);
        assert!(rules_for(&old, "ptrace").is_empty());
        let unknown = build_default(&Target::new(&[] as &[&str], "amd64", None), None);
        assert!(rules_for(&unknown, "ptrace").is_empty());
    }

    #[test]
    fn host_architectures_cover_the_compat_abis() {
        let archs = default_profile(DEFAULT_CAPS).architectures().clone();
        match std::env::consts::ARCH {
            "x86_64" => assert_eq!(
                archs.unwrap(),
                [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
            ),
            "aarch64" => assert_eq!(archs.unwrap(), [Arch::ScmpArchAarch64, Arch::ScmpArchArm]),
            _ => {}
        }
    }

    #[test]
    fn serialises_to_json_oci_spec_reads_back() {
        let p = default_profile(DEFAULT_CAPS);
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains("\"defaultAction\":\"SCMP_ACT_ERRNO\""),
            "{json}"
        );
        assert!(json.contains("\"defaultErrnoRet\":1"));
        assert!(json.contains("SCMP_CMP_MASKED_EQ"));
        let back: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel("5.4.0"), Some((5, 4)));
        assert_eq!(parse_kernel("4.19-rc1"), Some((4, 19)));
        assert_eq!(parse_kernel("garbage"), None);
        assert!(running_kernel().is_some());
        assert_eq!(parse_min_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_min_kernel("5.10.1"), Some((5, 10)));
        assert_eq!(parse_min_kernel("4"), None);
        assert_eq!(parse_min_kernel("4.x"), None);
    }

    const FIXTURE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "ignored"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["futuristic"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
            {"names": ["legacy"], "action": "SCMP_ACT_LOG", "excludes": {"minKernel": "5.0"}},
            {"name": "socket", "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": null, "includes": null}
        ]
    }"#;

    fn load(text: &str, caps: &[&str], arch: &'static str, native: Arch) -> LinuxSeccomp {
        convert(
            Path::new("/fixture.json"),
            text,
            &Target::new(caps, arch, Some((6, 1))),
            Some(native),
        )
        .unwrap()
    }

    fn names_of(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn load_applies_arch_map_and_conditions_on_amd64() {
        let p = load(FIXTURE, &["CAP_CHOWN"], "amd64", Arch::ScmpArchX86_64);
        assert_eq!(p.default_action(), ERRNO);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().as_deref().unwrap(),
            [Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        assert_eq!(
            names_of(&p),
            [
                "read",
                "write",
                "clone3",
                "arch_prctl",
                "ptrace",
                "socket",
                "personality"
            ]
        );
        let socket = rules_for(&p, "socket");
        let a = socket[0].args().as_ref().unwrap();
        assert_eq!((a[0].index(), a[0].value(), a[0].op()), (0, 40, NE));
        assert_eq!(rules_for(&p, "clone3")[0].errno_ret(), Some(38));
    }

    #[test]
    fn load_applies_caps_and_arm64_arch() {
        let p = load(FIXTURE, &["sys_admin"], "arm64", Arch::ScmpArchAarch64);
        assert_eq!(
            p.architectures().as_deref().unwrap(),
            [Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        assert_eq!(
            names_of(&p),
            [
                "read",
                "write",
                "mount",
                "set_tls",
                "ptrace",
                "socket",
                "personality"
            ]
        );
        let riscv = load(FIXTURE, &[], "riscv64", Arch::ScmpArchRiscv64);
        assert_eq!(
            riscv.architectures().as_deref().unwrap(),
            [Arch::ScmpArchRiscv64]
        );
    }

    #[test]
    fn load_excludes_min_kernel_on_older_kernels_only() {
        let old = convert(
            Path::new("/f.json"),
            FIXTURE,
            &Target::new(&[] as &[&str], "amd64", Some((4, 19))),
            Some(Arch::ScmpArchX86_64),
        )
        .unwrap();
        assert!(names_of(&old).contains(&"legacy".to_string()));
    }

    #[test]
    fn load_keeps_plain_architectures() {
        let text = r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#;
        let p = load(text, &[], "amd64", Arch::ScmpArchX86_64);
        assert_eq!(p.default_action(), ALLOW);
        assert_eq!(
            p.architectures().as_deref().unwrap(),
            [Arch::ScmpArchX86_64]
        );
        assert_eq!(
            p.flags().as_deref().unwrap(),
            [LinuxSeccompFilterFlag::SeccompFilterFlagLog]
        );
    }

    fn load_err(text: &str) -> String {
        convert(
            Path::new("/etc/profiles/bad.json"),
            text,
            &Target::new(&[] as &[&str], "amd64", Some((6, 1))),
            Some(Arch::ScmpArchX86_64),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn load_errors_name_the_file_and_the_problem() {
        let e = load_err("{not json");
        assert!(
            e.contains("/etc/profiles/bad.json") && e.contains("line 1"),
            "{e}"
        );

        let e = load_err(r#"{"syscalls": []}"#);
        assert!(e.contains("defaultAction"), "{e}");

        let e = load_err(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#);
        assert!(e.contains("SCMP_ACT_NOPE"), "{e}");

        let e = load_err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
        );
        assert!(
            e.contains("/etc/profiles/bad.json") && e.contains("archMap"),
            "{e}"
        );

        let e = load_err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}"#,
        );
        assert!(
            e.contains("syscalls[1].includes.minKernel") && e.contains("four"),
            "{e}"
        );

        let e = load_err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
        );
        assert!(e.contains("syscalls[0] names no syscall"), "{e}");

        let e = load_err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(e.contains("argument index 6"), "{e}");
    }

    #[test]
    fn load_profile_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.json");
        std::fs::write(&path, FIXTURE).unwrap();
        let p = load_profile(&path, DEFAULT_CAPS).unwrap();
        assert!(names_of(&p).contains(&"read".to_string()));
        let missing = dir.path().join("nope.json");
        let e = load_profile(&missing, DEFAULT_CAPS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope.json") && e.contains("seccomp="), "{e}");
    }
}
