//! v1 devices controller: rules are written one by one to devices.allow or
//! devices.deny, and the kernel keeps the resulting exception list.

use oci_spec::runtime::LinuxDeviceCgroup;

use super::V1Manager;
use crate::error::CgroupError;
use crate::fsutil;

/// The kernel's rule syntax: "<type> <major>:<minor> <access>", "*" for any.
pub(crate) fn rule_line(d: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = match d.access().as_deref() {
        Some(a) if !a.is_empty() => a.to_string(),
        _ => "rwm".to_string(),
    };
    let typ = d.typ().unwrap_or_default().as_str().to_string();
    format!("{} {}:{} {}", typ, num(d.major()), num(d.minor()), access)
}

pub(super) fn apply(m: &V1Manager, rules: Option<&[LinuxDeviceCgroup]>) -> Result<(), CgroupError> {
    let Some(rules) = rules.filter(|r| !r.is_empty()) else {
        return Ok(());
    };
    let dir = m.require("devices")?;
    for r in rules {
        let file = if r.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        fsutil::write(&dir.join(file), &rule_line(r))?;
    }
    Ok(())
}
