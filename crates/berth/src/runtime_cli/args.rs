//! runc (urfave/cli) accepts long options with one dash (`-bundle B`); clap does not.
//! Rewrite those before parsing, but never inside the command of `exec`/`ps`, whose
//! arguments belong to the program being run.

use std::ffi::OsString;

const LONG: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "rootless",
    "criu",
    "bundle",
    "console-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "detach",
    "keep",
    "force",
    "all",
    "format",
    "process",
    "cwd",
    "env",
    "tty",
    "user",
    "cap",
    "no-new-privs",
    "additional-gids",
    "resources",
    "stats",
    "interval",
    "quiet",
    "memory",
    "memory-swap",
    "memory-reservation",
    "cpu-shares",
    "cpu-quota",
    "cpu-period",
    "cpuset-cpus",
    "cpuset-mems",
    "pids-limit",
    "blkio-weight",
    "no-subreaper",
    "process-label",
    "apparmor",
    "ignore-paused",
];

pub fn normalize(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut verb: Option<String> = None;
    let mut positional_seen = false;
    for a in args {
        let s = a.to_string_lossy().into_owned();
        let frozen = positional_seen && matches!(verb.as_deref(), Some("exec") | Some("ps"));
        if !frozen && s.starts_with('-') && !s.starts_with("--") && s.len() > 2 {
            let name = s[1..].split('=').next().unwrap_or("");
            if LONG.contains(&name) {
                out.push(OsString::from(format!("-{s}")));
                continue;
            }
        }
        if !s.starts_with('-') {
            if verb.is_none() && !out.last().is_some_and(|p: &OsString| takes_value(p)) {
                verb = Some(s.clone());
            } else if verb.is_some() && !out.last().is_some_and(|p: &OsString| takes_value(p)) {
                positional_seen = true;
            }
        }
        out.push(a);
    }
    out
}

/// Options whose value is the next argument (so that argument is not a positional).
fn takes_value(prev: &OsString) -> bool {
    let s = prev.to_string_lossy();
    if s.contains('=') {
        return false;
    }
    matches!(
        s.trim_start_matches('-'),
        "root"
            | "log"
            | "log-format"
            | "criu"
            | "bundle"
            | "b"
            | "console-socket"
            | "pid-file"
            | "preserve-fds"
            | "format"
            | "f"
            | "process"
            | "p"
            | "cwd"
            | "env"
            | "e"
            | "user"
            | "u"
            | "cap"
            | "c"
            | "additional-gids"
            | "g"
            | "resources"
            | "r"
            | "interval"
            | "memory"
            | "memory-swap"
            | "memory-reservation"
            | "cpu-shares"
            | "cpu-quota"
            | "cpu-period"
            | "cpuset-cpus"
            | "cpuset-mems"
            | "pids-limit"
            | "blkio-weight"
            | "process-label"
            | "apparmor"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &[&str]) -> Vec<String> {
        normalize(v.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn single_dash_long_options_become_double() {
        assert_eq!(
            n(&["-root", "/r", "create", "-bundle", "b", "id"]),
            ["--root", "/r", "create", "--bundle", "b", "id"]
        );
    }

    #[test]
    fn exec_command_arguments_are_left_alone() {
        assert_eq!(
            n(&["exec", "-cwd", "/", "id", "ls", "-all"]),
            ["exec", "--cwd", "/", "id", "ls", "-all"]
        );
    }

    #[test]
    fn short_options_untouched() {
        assert_eq!(n(&["kill", "-a", "id", "9"]), ["kill", "-a", "id", "9"]);
    }
}
