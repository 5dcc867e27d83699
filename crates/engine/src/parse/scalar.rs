//! Single-value flags: sizes (`64m`), CPUs (`1.5`), durations (`30s`), `--ulimit`,
//! `--restart` and env/label files.

use std::path::Path;

use crate::error::{EngineError, IoContext, Result};
use crate::model::{RestartPolicy, Ulimit};

/// `512`, `64k`, `64m`, `1g`, `1.5g` (binary units, as Docker's RAMInBytes).
pub fn parse_size(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().map_err(|_| {
        EngineError::invalid(
            format!("size {s:?}"),
            "use a number with an optional unit b, k, m, g",
        )
    })?;
    if v < 0.0 {
        return Err(EngineError::invalid(
            format!("size {s:?}"),
            "it must not be negative",
        ));
    }
    Ok((v * mult as f64) as i64)
}

/// `--cpus 1.5` in nano-CPUs.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let v: f64 = s.parse().map_err(|_| {
        EngineError::invalid(format!("--cpus {s:?}"), "use a number such as 0.5 or 2")
    })?;
    let host = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if v <= 0.0 || v > host {
        return Err(EngineError::invalid(
            format!("--cpus {s:?}"),
            format!("the range of CPUs is from 0.01 to {host} (the CPUs available)"),
        ));
    }
    Ok((v * 1e9) as i64)
}

/// Go-style durations as Docker takes them: `30s`, `1m30s`, `500ms`, `0`.
pub fn parse_duration_ns(s: &str) -> Result<i64> {
    if s == "0" {
        return Ok(0);
    }
    let d = humantime::parse_duration(s).map_err(|e| {
        EngineError::invalid(
            format!("duration {s:?}"),
            format!("{e}; use forms like 30s, 1m30s, 500ms"),
        )
    })?;
    Ok(d.as_nanos() as i64)
}

/// `nofile=1024` or `nofile=1024:2048`.
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let bad = |why: &str| EngineError::invalid(format!("ulimit {s:?}"), why.to_string());
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| bad("use NAME=SOFT[:HARD]"))?;
    if crate::spec::rlimit_name(name).is_none() {
        return Err(bad(
            "unknown resource; use e.g. nofile, nproc, core, memlock, stack",
        ));
    }
    let num = |v: &str| -> Result<i64> {
        if v == "-1" || v == "unlimited" {
            return Ok(-1);
        }
        v.parse().map_err(|_| bad("limits must be numbers"))
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(vals)?, num(vals)?),
    };
    if hard != -1 && (soft == -1 || soft > hard) {
        return Err(bad("the soft limit must not exceed the hard limit"));
    }
    Ok(Ulimit {
        name: name.into(),
        soft,
        hard,
    })
}

/// `no`, `on-failure[:N]`, `always`, `unless-stopped`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, n) = match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let max = match n {
        None => 0,
        Some(v) if name == "on-failure" => v.parse().map_err(|_| {
            EngineError::invalid(
                format!("restart policy {s:?}"),
                "the retry count must be a number",
            )
        })?,
        Some(_) => {
            return Err(EngineError::invalid(
                format!("restart policy {s:?}"),
                "only on-failure takes a maximum retry count",
            ))
        }
    };
    match name {
        "no" | "on-failure" | "always" | "unless-stopped" => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }),
        _ => Err(EngineError::invalid(
            format!("restart policy {s:?}"),
            "use no, on-failure[:max-retries], always or unless-stopped",
        )),
    }
}

/// Lines of `KEY=VALUE` (or a bare `KEY`, taken from the caller's environment, as
/// Docker does); `#` comments and blank lines are skipped.
pub fn parse_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).ctx(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l.contains('=') {
            out.push(l.to_string());
        } else if let Ok(v) = std::env::var(l.trim_end()) {
            out.push(format!("{}={v}", l.trim_end()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("2kb").unwrap(), 2048);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn ulimits_and_restart() {
        assert_eq!(
            parse_ulimit("nofile=100:200").unwrap(),
            Ulimit {
                name: "nofile".into(),
                soft: 100,
                hard: 200
            }
        );
        assert_eq!(parse_ulimit("nproc=5").unwrap().hard, 5);
        assert!(parse_ulimit("nofile=300:200").is_err());
        assert!(parse_ulimit("bogus=1").is_err());
        assert_eq!(
            parse_restart("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert_eq!(parse_restart("always").unwrap().name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(parse_duration_ns("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert!(parse_duration_ns("soon").is_err());
    }

    #[test]
    fn env_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("env");
        std::fs::write(&p, "# c\nA=1\n\nB=two words\n").unwrap();
        assert_eq!(parse_env_file(&p).unwrap(), vec!["A=1", "B=two words"]);
    }
}
