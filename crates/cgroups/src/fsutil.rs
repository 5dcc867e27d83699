//! Reading and writing control files with errors that name the file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{read_hint, write_hint, CgroupError};

pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    fs::read_to_string(path).map_err(|source| CgroupError::Read {
        hint: read_hint(&source),
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file that is allowed to be absent (the controller may not be
/// available); `Ok(None)` means "absent".
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, CgroupError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            hint: read_hint(&source),
            path: path.to_path_buf(),
            source,
        }),
    }
}

pub(crate) fn read_u64(path: &Path) -> Result<u64, CgroupError> {
    let s = read(path)?;
    parse_u64(path, s.trim())
}

pub(crate) fn read_u64_opt(path: &Path) -> Result<Option<u64>, CgroupError> {
    match read_opt(path)? {
        Some(s) => parse_u64(path, s.trim()).map(Some),
        None => Ok(None),
    }
}

/// "max" is how v2 spells "no limit"; map it to u64::MAX like the v1 files do.
pub(crate) fn parse_u64(path: &Path, s: &str) -> Result<u64, CgroupError> {
    if s == "max" {
        return Ok(u64::MAX);
    }
    s.parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        line: s.to_string(),
        reason: "expected an unsigned integer".into(),
    })
}

/// One write(2) per value: the kernel parses each write as a whole, so a
/// buffered writer that splits the value would corrupt it. Control files
/// ignore the file offset, so O_APPEND changes nothing on cgroupfs; on a
/// fake tree in tests it keeps every write, making write order checkable.
pub(crate) fn write_raw(path: &Path, value: &str) -> Result<(), io::Error> {
    let mut f = fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(value.as_bytes())
}

pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    write_raw(path, value).map_err(|source| write_err(path, value, source))
}

pub(crate) fn write_err(path: &Path, value: &str, source: io::Error) -> CgroupError {
    CgroupError::Write {
        hint: write_hint(&source),
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    }
}

/// Writes a control file that only exists when an optional kernel feature is
/// present; `resource` and `why` end up in the error when it is missing.
pub(crate) fn write_required(
    path: &Path,
    value: &str,
    resource: &str,
    why: &str,
) -> Result<(), CgroupError> {
    if !path.exists() {
        return Err(CgroupError::Unsupported {
            resource: resource.to_string(),
            path: path.to_path_buf(),
            why: why.to_string(),
        });
    }
    write(path, value)
}

/// Parses "key value" lines (memory.stat, cpu.stat, memory.events, ...).
pub(crate) fn parse_flat_keyed(
    path: &Path,
    content: &str,
) -> Result<Vec<(String, u64)>, CgroupError> {
    let mut out = Vec::new();
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
            return Err(CgroupError::Parse {
                path: path.to_path_buf(),
                line: line.to_string(),
                reason: "expected \"key value\"".into(),
            });
        };
        out.push((k.to_string(), parse_u64(path, v)?));
    }
    Ok(out)
}

pub(crate) fn flat_keyed_value(
    path: &Path,
    content: &str,
    key: &str,
) -> Result<Option<u64>, CgroupError> {
    Ok(parse_flat_keyed(path, content)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v))
}

/// Parses cgroup.procs: one pid per line.
pub(crate) fn parse_pids(path: &Path, content: &str) -> Result<Vec<i32>, CgroupError> {
    content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                line: l.to_string(),
                reason: "expected a pid".into(),
            })
        })
        .collect()
}

/// This cgroup directory followed by all descendant directories, parents
/// before children.
pub(crate) fn walk_dirs(root: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let dir = out[i].clone();
        i += 1;
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(CgroupError::Read {
                    hint: read_hint(&source),
                    path: dir,
                    source,
                })
            }
        };
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(entry.path());
            }
        }
    }
    Ok(out)
}

/// Collects cgroup.procs of `dir` and every descendant.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    for d in walk_dirs(dir)? {
        let p = d.join("cgroup.procs");
        if let Some(content) = read_opt(&p)? {
            pids.extend(parse_pids(&p, &content)?);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Removes `dir` and its descendants, deepest first. The kernel refuses to
/// rmdir a cgroup with tasks (EBUSY) and tasks that were just killed linger
/// briefly as zombies in it, so EBUSY is retried for a short while.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let mut dirs = walk_dirs(dir)?;
    dirs.reverse();
    for d in dirs {
        remove_one(&d)?;
    }
    Ok(())
}

fn remove_one(dir: &Path) -> Result<(), CgroupError> {
    let mut delay = std::time::Duration::from_millis(5);
    let mut tries = 0;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 10 => {
                tries += 1;
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(200));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    hint: crate::error::remove_hint(&source),
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

pub(crate) fn mkdir_p(path: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(path).map_err(|source| CgroupError::Create {
        hint: write_hint(&source),
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_error_names_file_value_and_cause() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("memory.max");
        let msg = write(&f, "123").unwrap_err().to_string();
        assert!(
            msg.contains("memory.max")
                && msg.contains("\"123\"")
                && msg.contains("controller is not enabled"),
            "{msg}"
        );
    }

    #[test]
    fn flat_keyed_parsing() {
        let p = Path::new("x");
        let v = parse_flat_keyed(p, "a 1\nb max\n\n").unwrap();
        assert_eq!(v, vec![("a".into(), 1), ("b".into(), u64::MAX)]);
        assert!(parse_flat_keyed(p, "a 1 2\n").is_err());
        assert!(parse_flat_keyed(p, "a x\n").is_err());
        assert_eq!(flat_keyed_value(p, "a 1\nb 2\n", "b").unwrap(), Some(2));
    }

    #[test]
    fn pid_parsing() {
        assert_eq!(
            parse_pids(Path::new("p"), "1\n 22\n\n").unwrap(),
            vec![1, 22]
        );
        assert!(parse_pids(Path::new("p"), "x\n").is_err());
    }
}
