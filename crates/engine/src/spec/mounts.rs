//! The container's mounts: Docker's standard set (/proc, /dev, /dev/pts, /dev/shm,
//! /dev/mqueue, /sys, the cgroup tree), the generated /etc files, then volumes, binds
//! and tmpfs mounts from the user. A user mount over a standard destination replaces
//! it, as in Docker.

use serde_json::{json, Value};

use crate::model::{MountSpec, MountType};

/// A mount decided by create/start, with its host source resolved.
pub struct UserMount {
    pub destination: String,
    pub kind: MountType,
    pub source: String,
    pub read_only: bool,
    pub propagation: String,
    pub tmpfs_size: i64,
    pub tmpfs_mode: u32,
}

impl UserMount {
    pub fn from_spec(m: &MountSpec, source: String) -> UserMount {
        UserMount {
            destination: m.target.clone(),
            kind: m.kind,
            source,
            read_only: m.read_only,
            propagation: m.propagation.clone(),
            tmpfs_size: m.tmpfs_size,
            tmpfs_mode: m.tmpfs_mode,
        }
    }

    fn to_oci(&self) -> Value {
        match self.kind {
            MountType::Tmpfs => {
                let mut opts = vec!["nosuid".to_string(), "nodev".to_string()];
                if self.read_only {
                    opts.push("ro".into());
                }
                let mode = if self.tmpfs_mode == 0 {
                    0o1777
                } else {
                    self.tmpfs_mode
                };
                opts.push(format!("mode={mode:o}"));
                if self.tmpfs_size > 0 {
                    opts.push(format!("size={}", self.tmpfs_size));
                }
                json!({"destination": self.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
            MountType::Bind | MountType::Volume => {
                let mut opts = vec!["rbind".to_string()];
                opts.push(if self.read_only { "ro" } else { "rw" }.into());
                opts.push(if self.propagation.is_empty() {
                    "rprivate".to_string()
                } else {
                    self.propagation.clone()
                });
                json!({"destination": self.destination, "type": "bind", "source": self.source, "options": opts})
            }
        }
    }
}

pub struct MountInput<'a> {
    pub etc_dir: &'a str,
    pub shm_size: i64,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub user: &'a [UserMount],
}

/// Docker's /dev/shm default when `--shm-size` is not given: 64 MiB.
pub const DEFAULT_SHM: i64 = 64 << 20;

pub fn build(input: &MountInput<'_>) -> Vec<Value> {
    let sys_ro = if input.privileged { "rw" } else { "ro" };
    let shm = if input.shm_size > 0 {
        input.shm_size
    } else {
        DEFAULT_SHM
    };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", sys_ro]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", sys_ro]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    for f in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(json!({
            "destination": format!("/etc/{f}"),
            "type": "bind",
            "source": format!("{}/{f}", input.etc_dir),
            "options": ["rbind", "rprivate", if input.readonly_rootfs { "ro" } else { "rw" }],
        }));
    }
    for m in input.user {
        let dest = m.destination.trim_end_matches('/');
        mounts.retain(|x| x["destination"].as_str() != Some(dest));
        mounts.push(m.to_oci());
    }
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mount_replaces_a_standard_one() {
        let user = [UserMount {
            destination: "/dev/shm".into(),
            kind: MountType::Tmpfs,
            source: String::new(),
            read_only: false,
            propagation: String::new(),
            tmpfs_size: 1 << 20,
            tmpfs_mode: 0,
        }];
        let m = build(&MountInput {
            etc_dir: "/x",
            shm_size: 0,
            privileged: false,
            readonly_rootfs: false,
            user: &user,
        });
        let shm: Vec<_> = m
            .iter()
            .filter(|m| m["destination"] == "/dev/shm")
            .collect();
        assert_eq!(shm.len(), 1);
        assert!(shm[0]["options"]
            .as_array()
            .unwrap()
            .contains(&json!("size=1048576")));
    }

    #[test]
    fn default_shm_is_64m_and_sys_is_read_only() {
        let m = build(&MountInput {
            etc_dir: "/x",
            shm_size: 0,
            privileged: false,
            readonly_rootfs: false,
            user: &[],
        });
        let shm = m.iter().find(|m| m["destination"] == "/dev/shm").unwrap();
        assert!(shm["options"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("size={}", 64 << 20))));
        let sys = m.iter().find(|m| m["destination"] == "/sys").unwrap();
        assert!(sys["options"].as_array().unwrap().contains(&json!("ro")));
    }
}
