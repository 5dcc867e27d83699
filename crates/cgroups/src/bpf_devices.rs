//! cgroup v2 device access control. v2 has no devices.allow file; instead a
//! BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup decides every
//! open/mknod of a device node. The program is generated from the OCI rule
//! list: rules are checked last-to-first and the first hit decides, which
//! gives the "last matching rule wins" meaning the list has under v1.
//! Nothing matching means deny.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::CgroupError;

// Access bits and device types as the kernel puts them in
// bpf_cgroup_dev_ctx.access_type: (access << 16) | type.
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;

/// One device rule reduced to what the filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// None = any type.
    pub typ: Option<u32>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

impl Rule {
    /// Returns None for rules the device cgroup never sees (FIFOs).
    pub(crate) fn from_oci(d: &LinuxDeviceCgroup) -> Result<Option<Rule>, CgroupError> {
        let typ = match d.typ().unwrap_or_default() {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B => Some(DEV_BLOCK),
            LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
            LinuxDeviceType::P => return Ok(None),
        };
        let num = |n: Option<i64>, what: &str| -> Result<Option<u32>, CgroupError> {
            match n {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None),
                Some(n) => u32::try_from(n)
                    .map(Some)
                    .map_err(|_| CgroupError::InvalidResource {
                        resource: format!("linux.resources.devices[].{what}"),
                        value: n.to_string(),
                        why: "device numbers must fit in 32 bits".into(),
                    }),
            }
        };
        let access = match d.access().as_deref() {
            None | Some("") => ACC_ALL,
            Some(a) => a.chars().try_fold(0, |acc, c| match c {
                'r' => Ok(acc | ACC_READ),
                'w' => Ok(acc | ACC_WRITE),
                'm' => Ok(acc | ACC_MKNOD),
                _ => Err(CgroupError::InvalidResource {
                    resource: "linux.resources.devices[].access".into(),
                    value: a.to_string(),
                    why: "access may only contain the letters r, w and m".into(),
                }),
            })?,
        };
        Ok(Some(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access,
        }))
    }
}

/// struct bpf_insn. `regs` holds the C bitfields dst_reg:4, src_reg:4,
/// whose nibble order follows the byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_MEM_W: u8 = 0x61;
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU32_MOV_K: u8 = 0xb4;
const ALU32_MOV_X: u8 = 0xbc;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_JSET_K: u8 = 0x45;
const JMP_EXIT: u8 = 0x95;

// r1 = context on entry, then scratch; r2 type, r3 access, r4 major, r5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    #[cfg(target_endian = "little")]
    let regs = dst | (src << 4);
    #[cfg(target_endian = "big")]
    let regs = (dst << 4) | src;
    Insn {
        code,
        regs,
        off,
        imm,
    }
}

/// Builds the filter program.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0),
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    for r in rules.iter().rev() {
        // Conditions jump to the end of this rule's block on mismatch; the
        // offsets are patched once the block length is known.
        let mut block: Vec<Insn> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        if let Some(t) = r.typ {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, R2, 0, 0, t as i32));
        }
        if r.access & ACC_ALL != ACC_ALL {
            if r.allow {
                // Allow only if every requested bit is granted.
                jumps.push(block.len());
                block.push(insn(JMP_JSET_K, R3, 0, 0, (!r.access & ACC_ALL) as i32));
            } else {
                // Deny if any requested bit is denied, so "rw" on a rule
                // denying "w" is refused.
                block.push(insn(ALU32_MOV_X, R1, R3, 0, 0));
                block.push(insn(ALU32_AND_K, R1, 0, 0, r.access as i32));
                jumps.push(block.len());
                block.push(insn(JMP_JEQ_K, R1, 0, 0, 0));
            }
        }
        if let Some(m) = r.major {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, R4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            jumps.push(block.len());
            block.push(insn(JMP_JNE_K, R5, 0, 0, m as i32));
        }
        block.push(insn(ALU32_MOV_K, R0, 0, 0, i32::from(r.allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for j in &jumps {
            block[*j].off = (len - j - 1) as i16;
        }
        p.extend(block);
        if jumps.is_empty() {
            // An unconditional rule decides everything; code after it
            // would be unreachable, which the verifier rejects.
            return p;
        }
    }
    p.push(insn(ALU32_MOV_K, R0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

// bpf(2) commands and constants from include/uapi/linux/bpf.h.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// union bpf_attr as raw bytes. It is larger than every member we use and
/// than the offsets the kernel writes results to (query revision,
/// log_true_size), and zero-filled as the kernel requires for unused tails.
#[repr(C, align(8))]
struct Attr([u8; 160]);

impl Attr {
    fn new() -> Self {
        Attr([0; 160])
    }
    fn u32(mut self, off: usize, v: u32) -> Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(mut self, off: usize, v: u64) -> Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes([
            self.0[off],
            self.0[off + 1],
            self.0[off + 2],
            self.0[off + 3],
        ])
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: attr points to a live, writable, zero-initialised buffer of
    // the size passed, which covers every field the kernel reads or writes
    // for the commands used here; pointers stored inside it (instructions,
    // license, log, id array) are kept alive by the callers for the
    // duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<Attr>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(raw: libc::c_long) -> OwnedFd {
    // SAFETY: raw was just returned by a successful bpf() call that creates
    // a new file descriptor, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
}

fn load(insns: &[Insn], cgroup: &Path) -> Result<OwnedFd, CgroupError> {
    let license = b"Apache-2.0\0";
    let attempt = |log: Option<&mut [u8]>| {
        let mut a = Attr::new()
            .u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, insns.len() as u32)
            .u64(8, insns.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64);
        if let Some(log) = log {
            a = a
                .u32(24, 1)
                .u32(28, log.len() as u32)
                .u64(32, log.as_mut_ptr() as u64);
        }
        bpf(BPF_PROG_LOAD, &mut a)
    };
    match attempt(None) {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(source) => {
            // Load again with a log only on failure: the verifier's text is
            // the one useful explanation of a rejected program.
            let mut buf = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut buf));
            let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
            let text = String::from_utf8_lossy(&buf[..end]).trim().to_string();
            let hint = match source.raw_os_error() {
                Some(libc::EPERM) => {
                    " (loading BPF programs needs CAP_BPF/CAP_SYS_ADMIN)".to_string()
                }
                _ if text.is_empty() => String::new(),
                _ => format!("; verifier log: {text}"),
            };
            Err(CgroupError::Bpf {
                path: cgroup.to_path_buf(),
                op: "BPF_PROG_LOAD",
                source,
                log: hint,
            })
        }
    }
}

/// Ids of device programs attached directly to the cgroup.
fn attached(cg: RawFd, cgroup: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new()
        .u32(0, cg as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a).map_err(|source| CgroupError::Bpf {
        path: cgroup.to_path_buf(),
        op: "BPF_PROG_QUERY",
        source,
        log: String::new(),
    })?;
    let n = (a.get_u32(24) as usize).min(ids.len());
    ids.truncate(n);
    Ok(ids)
}

fn detach(cg: RawFd, id: u32, cgroup: &Path) -> Result<(), CgroupError> {
    let err = |op, source| CgroupError::Bpf {
        path: cgroup.to_path_buf(),
        op,
        source,
        log: " (an older device filter is still attached and keeps enforcing the old rules)".into(),
    };
    let fd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut Attr::new().u32(0, id)) {
        Ok(fd) => owned_fd(fd),
        // Detached and freed meanwhile by someone else.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(err("BPF_PROG_GET_FD_BY_ID", e)),
    };
    let mut a = Attr::new()
        .u32(0, cg as u32)
        .u32(4, fd.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE);
    match bpf(BPF_PROG_DETACH, &mut a) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(err("BPF_PROG_DETACH", e)),
    }
}

/// Replaces the device filter of the cgroup directory `cgroup` with one
/// built from `devices`. The new program is attached before the old ones
/// are removed so there is no moment without a filter.
pub(crate) fn apply(cgroup: &Path, devices: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let rules: Vec<Rule> = devices
        .iter()
        .map(Rule::from_oci)
        .filter_map(Result::transpose)
        .collect::<Result<_, _>>()?;
    let insns = program(&rules);
    let dir = rustix::fs::open(
        cgroup,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| CgroupError::Read {
        hint: crate::error::read_hint(&e.into()),
        path: cgroup.to_path_buf(),
        source: e.into(),
    })?;
    let old = attached(dir.as_raw_fd(), cgroup)?;
    let prog = load(&insns, cgroup)?;
    let mut a = Attr::new()
        .u32(0, dir.as_raw_fd() as u32)
        .u32(4, prog.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|source| CgroupError::Bpf {
        path: cgroup.to_path_buf(),
        op: "BPF_PROG_ATTACH",
        source,
        log: String::new(),
    })?;
    for id in old {
        detach(dir.as_raw_fd(), id, cgroup)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "bpf_devices_tests.rs"]
mod tests;
