//! Mount options from config.json: flags for mount(2), propagation changes applied as
//! separate calls, recursive attributes for mount_setattr(2), and the rest as fs data.

use crate::sys;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: libc::c_ulong,
    /// Flags the options explicitly clear (`rw`, `suid`...), which matter on remount.
    pub cleared: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub rec_set: u64,
    pub rec_clear: u64,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive_bind: bool,
    pub tmpcopyup: bool,
    pub idmap: bool,
}

const MS_NOSYMFOLLOW: libc::c_ulong = 256;

pub fn parse(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let set = |o: &mut MountOptions, f: libc::c_ulong| {
            o.flags |= f;
            o.cleared &= !f;
        };
        let clear = |o: &mut MountOptions, f: libc::c_ulong| {
            o.flags &= !f;
            o.cleared |= f;
        };
        match opt.as_str() {
            "defaults" => {}
            "ro" => set(&mut o, libc::MS_RDONLY),
            "rw" => clear(&mut o, libc::MS_RDONLY),
            "nosuid" => set(&mut o, libc::MS_NOSUID),
            "suid" => clear(&mut o, libc::MS_NOSUID),
            "nodev" => set(&mut o, libc::MS_NODEV),
            "dev" => clear(&mut o, libc::MS_NODEV),
            "noexec" => set(&mut o, libc::MS_NOEXEC),
            "exec" => clear(&mut o, libc::MS_NOEXEC),
            "sync" => set(&mut o, libc::MS_SYNCHRONOUS),
            "async" => clear(&mut o, libc::MS_SYNCHRONOUS),
            "dirsync" => set(&mut o, libc::MS_DIRSYNC),
            "remount" => set(&mut o, libc::MS_REMOUNT),
            "mand" => set(&mut o, libc::MS_MANDLOCK),
            "nomand" => clear(&mut o, libc::MS_MANDLOCK),
            "noatime" => set(&mut o, libc::MS_NOATIME),
            "atime" => clear(&mut o, libc::MS_NOATIME),
            "nodiratime" => set(&mut o, libc::MS_NODIRATIME),
            "diratime" => clear(&mut o, libc::MS_NODIRATIME),
            "relatime" => set(&mut o, libc::MS_RELATIME),
            "norelatime" => clear(&mut o, libc::MS_RELATIME),
            "strictatime" => set(&mut o, libc::MS_STRICTATIME),
            "nostrictatime" => clear(&mut o, libc::MS_STRICTATIME),
            "lazytime" => set(&mut o, libc::MS_LAZYTIME),
            "nolazytime" => clear(&mut o, libc::MS_LAZYTIME),
            "silent" => set(&mut o, libc::MS_SILENT),
            "loud" => clear(&mut o, libc::MS_SILENT),
            "iversion" => set(&mut o, libc::MS_I_VERSION),
            "noiversion" => clear(&mut o, libc::MS_I_VERSION),
            "nosymfollow" => set(&mut o, MS_NOSYMFOLLOW),
            "symfollow" => clear(&mut o, MS_NOSYMFOLLOW),
            "bind" => o.bind = true,
            "rbind" => {
                o.bind = true;
                o.recursive_bind = true;
            }
            "private" => o.propagation.push(libc::MS_PRIVATE),
            "rprivate" => o.propagation.push(libc::MS_PRIVATE | libc::MS_REC),
            "shared" => o.propagation.push(libc::MS_SHARED),
            "rshared" => o.propagation.push(libc::MS_SHARED | libc::MS_REC),
            "slave" => o.propagation.push(libc::MS_SLAVE),
            "rslave" => o.propagation.push(libc::MS_SLAVE | libc::MS_REC),
            "unbindable" => o.propagation.push(libc::MS_UNBINDABLE),
            "runbindable" => o.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC),
            "rro" => o.rec_set |= sys::MOUNT_ATTR_RDONLY,
            "rrw" => o.rec_clear |= sys::MOUNT_ATTR_RDONLY,
            "rnosuid" => o.rec_set |= sys::MOUNT_ATTR_NOSUID,
            "rsuid" => o.rec_clear |= sys::MOUNT_ATTR_NOSUID,
            "rnodev" => o.rec_set |= sys::MOUNT_ATTR_NODEV,
            "rdev" => o.rec_clear |= sys::MOUNT_ATTR_NODEV,
            "rnoexec" => o.rec_set |= sys::MOUNT_ATTR_NOEXEC,
            "rexec" => o.rec_clear |= sys::MOUNT_ATTR_NOEXEC,
            "rnosymfollow" => o.rec_set |= sys::MOUNT_ATTR_NOSYMFOLLOW,
            "rsymfollow" => o.rec_clear |= sys::MOUNT_ATTR_NOSYMFOLLOW,
            "tmpcopyup" => o.tmpcopyup = true,
            "idmap" | "ridmap" => o.idmap = true,
            other => o.data.push(other.to_string()),
        }
    }
    o
}

/// Propagation flags for `linux.rootfsPropagation`.
pub fn propagation(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// The flags a remount must keep: inside a user namespace the kernel refuses to clear
/// nosuid/nodev/noexec/atime flags that were locked by the mount's creator.
pub fn locked_flags(path: &std::path::Path) -> libc::c_ulong {
    use rustix::fs::StatVfsMountFlags as F;
    let Ok(st) = rustix::fs::statvfs(path) else {
        return 0;
    };
    let mut flags = 0;
    for (st_flag, ms) in [
        (F::NOSUID, libc::MS_NOSUID),
        (F::NODEV, libc::MS_NODEV),
        (F::NOEXEC, libc::MS_NOEXEC),
        (F::NOATIME, libc::MS_NOATIME),
        (F::NODIRATIME, libc::MS_NODIRATIME),
        (F::RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag.contains(st_flag) {
            flags |= ms;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(opts: &[&str]) -> MountOptions {
        parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_and_data_are_separated() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, vec!["mode=755", "size=65536k"]);
    }

    #[test]
    fn later_options_override_earlier() {
        let o = p(&["ro", "rw"]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert_ne!(o.cleared & libc::MS_RDONLY, 0);
    }

    #[test]
    fn bind_propagation_and_recursive_attrs() {
        let o = p(&["rbind", "rprivate", "rro"]);
        assert!(o.bind && o.recursive_bind);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.rec_set, sys::MOUNT_ATTR_RDONLY);
    }
}
