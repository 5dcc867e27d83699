//! Invocations of the OCI runtime and reading its verdicts.

use crate::config::MonitorConfig;
use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

pub fn command<S: AsRef<OsStr>>(cfg: &MonitorConfig, args: &[S]) -> Command {
    let mut c = Command::new(&cfg.runtime[0]);
    c.args(&cfg.runtime[1..]).args(args);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `msg` of the last JSON line the runtime wrote with `--log-format json`.
pub fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|l| {
        let v: serde_json::Value = serde_json::from_str(l.trim()).ok()?;
        v.get("msg")?.as_str().map(str::to_owned)
    })
}

/// Docker's exit codes for a container that could not start: 127 when the
/// command does not exist, 126 when it cannot be executed, else 125.
pub fn classify(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("executable file not found")
        || (m.contains("exec") && m.contains("no such file or directory"))
    {
        127
    } else if m.contains("permission denied") {
        126
    } else {
        125
    }
}

/// The `oom_kill` counter of a cgroup v1 `memory.oom_control` or v2 `memory.events`.
pub fn oom_kills(file: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify(r#"exec: "nope": executable file not found in $PATH"#),
            127
        );
        assert_eq!(
            classify(r#"exec: "/x": no such file or directory in the container"#),
            127
        );
        assert_eq!(classify(r#"exec: "/etc": permission denied"#), 126);
        assert_eq!(classify("cgroup: invalid argument"), 125);
    }

    #[test]
    fn log_and_oom_parsing() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("runtime.log");
        std::fs::write(
            &log,
            "{\"level\":\"error\",\"msg\":\"first\"}\n{\"level\":\"error\",\"msg\":\"second\"}\n\n",
        )
        .unwrap();
        assert_eq!(last_error(&log).as_deref(), Some("second"));
        let ev = d.path().join("memory.events");
        std::fs::write(&ev, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n").unwrap();
        assert_eq!(oom_kills(&ev), Some(2));
        let v1 = d.path().join("memory.oom_control");
        std::fs::write(&v1, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n").unwrap();
        assert_eq!(oom_kills(&v1), Some(0));
    }
}
