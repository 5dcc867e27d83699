//! uid/gid maps of a new user namespace, written by the runtime (outside the namespace)
//! for the child that just unshared it. As root the files are written directly; an
//! unprivileged caller goes through the setuid helpers newuidmap/newgidmap, which check
//! /etc/subuid and /etc/subgid.

use std::fs;
use std::process::Command;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{IoContext, Result, RuntimeError};
use crate::sys;

fn render(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

pub fn write(pid: i32, uid_maps: &[LinuxIdMapping], gid_maps: &[LinuxIdMapping]) -> Result<()> {
    if sys::geteuid() == 0 {
        write_direct(pid, "uid_map", uid_maps)?;
        write_direct(pid, "gid_map", gid_maps)?;
        return Ok(());
    }
    let single_self = |maps: &[LinuxIdMapping], own: u32| {
        maps.len() == 1 && maps[0].size() == 1 && maps[0].host_id() == own
    };
    if single_self(uid_maps, sys::geteuid()) && single_self(gid_maps, sys::getegid()) {
        // An unprivileged process may map only itself, and only after denying setgroups.
        fs::write(format!("/proc/{pid}/setgroups"), "deny")
            .ctx(|| format!("writing /proc/{pid}/setgroups"))?;
        write_direct(pid, "uid_map", uid_maps)?;
        write_direct(pid, "gid_map", gid_maps)?;
        return Ok(());
    }
    helper("newuidmap", pid, uid_maps)?;
    helper("newgidmap", pid, gid_maps)
}

fn write_direct(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let path = format!("/proc/{pid}/{file}");
    fs::write(&path, render(maps)).ctx(|| format!("writing {path} ({})", render(maps).trim()))
}

fn helper(name: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(name);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| {
        RuntimeError::Config(format!(
            "{name} is needed to map several ids without root and could not run: {e} (install the uidmap package)"
        ))
    })?;
    if !out.status.success() {
        return Err(RuntimeError::Config(format!(
            "{name} {pid} failed: {} (check /etc/subuid and /etc/subgid)",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_per_mapping() {
        let m: Vec<LinuxIdMapping> = serde_json::from_str(
            r#"[{"containerID":0,"hostID":100000,"size":65536},{"containerID":65536,"hostID":5,"size":1}]"#,
        )
        .unwrap();
        assert_eq!(render(&m), "0 100000 65536\n65536 5 1\n");
    }
}
