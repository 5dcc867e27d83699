//! The /proc and /sys paths a container must not see or must not change.

/// Host information, and interfaces into the host kernel, that /proc and
/// /sys would otherwise show the container; the runtime hides each one.
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    // Thermal event counters: a side channel between containers (Docker
    // masks it since 28.0, GHSA-6fw5-f8r9-fgfm).
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    // RAPL energy counters, the PLATYPUS power side channel.
    "/sys/devices/virtual/powercap",
];

/// Kernel settings that stay readable but must not be written.
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

const CPU_DIR: &str = "/sys/devices/system/cpu";

/// Docker's masked paths, plus each CPU's `thermal_throttle` directory that
/// exists on this host (the container's /sys is the host's, so the same
/// directories appear there).
pub fn masked_paths() -> Vec<String> {
    let mut paths: Vec<String> = MASKED.iter().map(|p| p.to_string()).collect();
    paths.extend(thermal_throttle_dirs());
    paths
}

/// Docker's read-only paths.
pub fn readonly_paths() -> Vec<String> {
    READONLY.iter().map(|p| p.to_string()).collect()
}

fn thermal_throttle_dirs() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(CPU_DIR) else {
        return Vec::new();
    };
    let mut dirs: Vec<String> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("cpu"))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path().join("thermal_throttle"))
        .filter(|p| p.exists())
        .filter_map(|p| p.to_str().map(str::to_string))
        .collect();
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_are_present() {
        let masked = masked_paths();
        for p in [
            "/proc/kcore",
            "/proc/keys",
            "/proc/interrupts",
            "/sys/firmware",
            "/sys/devices/virtual/powercap",
        ] {
            assert!(masked.contains(&p.to_string()), "{p} not masked");
        }
        assert_eq!(
            readonly_paths(),
            [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        );
    }

    #[test]
    fn thermal_dirs_are_absolute_and_exist() {
        for d in masked_paths().iter().skip(MASKED.len()) {
            assert!(d.starts_with("/sys/devices/system/cpu/cpu"), "{d}");
            assert!(d.ends_with("/thermal_throttle"), "{d}");
            assert!(std::path::Path::new(d).is_dir(), "{d}");
        }
    }

    #[test]
    fn no_path_is_both_masked_and_readonly() {
        let ro = readonly_paths();
        assert!(masked_paths().iter().all(|p| !ro.contains(p)));
    }
}
