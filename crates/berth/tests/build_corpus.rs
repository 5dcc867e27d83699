//! The build corpus (`tests/build-corpus/NN-name/`): every entry is a context with a
//! Dockerfile and an `expect.json` saying what the image must be (config fields,
//! history, files with content/owner/mode/link target, files that must be absent,
//! what containers run from it print) or how the build must fail. Each entry is
//! built in a copy of its directory; every mismatch of every entry is collected
//! and the test fails at the end with all of them, named by entry and field.
//!
//! The entries are split over a few test functions (one store each) so the two
//! test threads share the work. `expect.json` keys:
//! - `args`: extra `berth build` arguments; `{ctx}`, `{work}` and `{http}` (a
//!   127.0.0.1 server of the entry's `serve/` dir) are replaced.
//! - `setup`: a shell script run in the copied context first (tars, symlinks).
//! - `fail`: the build must fail and its stderr contain this.
//! - `config`: field → exact JSON value (`null`: unset) of the image's config;
//!   `author`: the image's author (MAINTAINER).
//! - `history`: `{ "count": N, "empty": [bool, ...], "created_by": [...] }` over
//!   the whole history (base image entries included); `layers`: the number of layers;
//!   `top_layer`: every path in the newest layer (whiteouts included), sorted.
//! - `files`: `{path, type?: file|dir|symlink, content?, contains?, mode?: "644",
//!   uid?, gid?, target?}`, checked on the mounted image; `absent`: paths.
//! - `run`: `{args: [...], opts?: [...], stdout?: exact, contains?, code?}`; `args`
//!   empty runs the image's own command.
//! - `context`: the context argument instead of the copied directory (`-`: a tar on
//!   stdin); `stdin`: a file of the context fed to the build's stdin; `iidfile`:
//!   true to pass `--iidfile` and check it names the image; `builds`: how many times
//!   to run the build (the last one is checked); `stderr_contains`: fragments of
//!   the build's progress output; `host_absent`: host paths the build must not create.
//! - `xfail`: a known gap (reported, not a failure) — then the entry must still
//!   mismatch, or the test fails so the marker is removed.
//! - `buildah`: read by tests/interop/build-buildah.sh only.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::engine::{text, Engine};
use serde_json::Value;

/// How many test functions share the corpus.
const PARTS: usize = 4;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/build-corpus")
}

fn entries() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .expect("tests/build-corpus")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("expect.json").is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn corpus_has_enough_entries() {
    let n = entries().len();
    assert!(n >= 40, "the corpus has {n} entries, the issue asks for 40");
}

/// Serves files below `root` on 127.0.0.1 (GET only, no `..`), for `ADD <url>`.
/// The thread ends with the test binary.
fn serve(root: PathBuf) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s);
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h.trim().is_empty() {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut s = r.into_inner();
            let file = (!path.contains(".."))
                .then(|| root.join(path.trim_start_matches('/')))
                .and_then(|p| fs::read(p).ok());
            let _ = match file {
                Some(b) => s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| s.write_all(&b)),
                None => s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    port
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success(), "cp -a {}", from.display());
}

/// The image's config blob, read from the store (for `history[].empty_layer`).
fn raw_config(e: &Engine, id: &str) -> Option<Value> {
    let hex = id.trim_start_matches("sha256:");
    let p = e.root.path().join("blobs/sha256").join(hex);
    serde_json::from_slice(&fs::read(p).ok()?).ok()
}

struct Check<'a> {
    entry: String,
    problems: &'a mut Vec<String>,
}

impl Check<'_> {
    fn bad(&mut self, field: &str, msg: String) {
        self.problems
            .push(format!("{}: {field}: {msg}", self.entry));
    }
}

fn subst(s: &str, ctx: &Path, work: &Path, http: &str) -> String {
    s.replace("{ctx}", &ctx.to_string_lossy())
        .replace("{work}", &work.to_string_lossy())
        .replace("{http}", http)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn check_files(c: &mut Check<'_>, root: &Path, exp: &Value) {
    for f in exp["files"].as_array().into_iter().flatten() {
        let path = f["path"].as_str().unwrap_or("");
        let p = root.join(path.trim_start_matches('/'));
        let field = format!("files[{path}]");
        let md = match fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                c.bad(&field, format!("missing ({e})"));
                continue;
            }
        };
        let kind = if md.file_type().is_symlink() {
            "symlink"
        } else if md.is_dir() {
            "dir"
        } else {
            "file"
        };
        if let Some(t) = f["type"].as_str() {
            if t != kind {
                c.bad(&field, format!("is a {kind}, expected a {t}"));
            }
        }
        if let Some(t) = f["target"].as_str() {
            let got = fs::read_link(&p)
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            if got != t {
                c.bad(&field, format!("link target {got:?}, expected {t:?}"));
            }
        }
        if let Some(m) = f["mode"].as_str() {
            let got = md.permissions().mode() & 0o7777;
            if u32::from_str_radix(m, 8).ok() != Some(got) {
                let got = format!("{got:o}");
                c.bad(&field, format!("mode {got}, expected {m}"));
            }
        }
        for (k, got) in [("uid", md.uid()), ("gid", md.gid())] {
            if let Some(want) = f[k].as_u64() {
                if u64::from(got) != want {
                    c.bad(&field, format!("{k} {got}, expected {want}"));
                }
            }
        }
        if f.get("content").is_some() || f.get("contains").is_some() {
            let body = fs::read(&p).map(|b| text(&b)).unwrap_or_default();
            if let Some(want) = f["content"].as_str() {
                if body != want {
                    c.bad(&field, format!("content {body:?}, expected {want:?}"));
                }
            }
            if let Some(want) = f["contains"].as_str() {
                if !body.contains(want) {
                    c.bad(&field, format!("content {body:?} lacks {want:?}"));
                }
            }
        }
    }
    for a in exp["absent"].as_array().into_iter().flatten() {
        let path = a.as_str().unwrap_or("");
        if fs::symlink_metadata(root.join(path.trim_start_matches('/'))).is_ok() {
            c.bad(&format!("absent[{path}]"), "exists in the image".into());
        }
    }
}

/// Every path below `dir`, relative to `root`.
fn list_tree(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            list_tree(root, &p, out);
        }
    }
}

fn check_image(c: &mut Check<'_>, e: &Engine, tag: &str, exp: &Value) {
    let o = e.berth(&["image", "inspect", tag]);
    if !o.status.success() {
        c.bad("image", format!("inspect failed: {}", text(&o.stderr)));
        return;
    }
    let inspect: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    let img = &inspect[0];
    let config = &img["Config"];
    for (k, want) in exp["config"].as_object().into_iter().flatten() {
        let got = config.get(k).cloned().unwrap_or(Value::Null);
        // An empty map or list reads as unset, as Docker's tools treat it.
        let empty = |v: &Value| {
            v.is_null()
                || v.as_object().is_some_and(|m| m.is_empty())
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.as_str().is_some_and(str::is_empty)
        };
        if got != *want && !(empty(&got) && empty(want)) {
            c.bad(&format!("config.{k}"), format!("{got}, expected {want}"));
        }
    }
    if let Some(want) = exp["author"].as_str() {
        let got = img["Author"].as_str().unwrap_or("");
        if got != want {
            c.bad("author", format!("{got:?}, expected {want:?}"));
        }
    }
    let id = img["Id"].as_str().unwrap_or("").to_string();
    let raw = raw_config(e, &id).unwrap_or(Value::Null);
    let layers = raw["rootfs"]["diff_ids"].as_array().map_or(0, |a| a.len());
    if let Some(want) = exp["layers"].as_u64() {
        if layers as u64 != want {
            c.bad("layers", format!("{layers}, expected {want}"));
        }
    }
    let hist = raw["history"].as_array().cloned().unwrap_or_default();
    let nonempty = hist
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .count();
    if !hist.is_empty() && nonempty != layers {
        c.bad(
            "history",
            format!("{nonempty} non-empty entries for {layers} layers"),
        );
    }
    if let Some(want) = exp["history"]["count"].as_u64() {
        if hist.len() as u64 != want {
            let by: Vec<&str> = hist
                .iter()
                .map(|h| h["created_by"].as_str().unwrap_or(""))
                .collect();
            c.bad(
                "history.count",
                format!("{}, expected {want}: {by:?}", hist.len()),
            );
        }
    }
    if let Some(want) = exp["history"]["empty"].as_array() {
        let got: Vec<bool> = hist
            .iter()
            .map(|h| h["empty_layer"].as_bool().unwrap_or(false))
            .collect();
        let want: Vec<bool> = want.iter().map(|b| b.as_bool().unwrap_or(false)).collect();
        if got != want {
            c.bad("history.empty", format!("{got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = exp["top_layer"].as_array() {
        // The newest layer's unpacked directory: the first overlay lower dir.
        let lower = img["GraphDriver"]["Data"]["LowerDir"]
            .as_str()
            .unwrap_or("");
        let top = PathBuf::from(lower.split(':').next().unwrap_or(""));
        let mut got = Vec::new();
        list_tree(&top, &top, &mut got);
        got.sort();
        let want: Vec<String> = strs(&Value::Array(want.clone()));
        if got != want {
            c.bad("top_layer", format!("{got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = exp["history"]["created_by"].as_array() {
        let got: Vec<&str> = hist
            .iter()
            .map(|h| h["created_by"].as_str().unwrap_or(""))
            .collect();
        let want: Vec<&str> = want.iter().map(|w| w.as_str().unwrap_or("")).collect();
        if got != want {
            c.bad("history.created_by", format!("{got:?}, expected {want:?}"));
        }
    }
    if exp.get("files").is_some() || exp.get("absent").is_some() {
        let o = e.berth(&["image", "mount", tag]);
        if !o.status.success() {
            c.bad("files", format!("image mount failed: {}", text(&o.stderr)));
        } else {
            let root = PathBuf::from(text(&o.stdout).trim());
            check_files(c, &root, exp);
            let _ = e.berth(&["image", "unmount", tag]);
        }
    }
    for (i, r) in exp["run"].as_array().into_iter().flatten().enumerate() {
        let mut a: Vec<String> = vec!["run".into(), "--rm".into()];
        let opts = strs(&r["opts"]);
        if !opts.iter().any(|o| o.starts_with("--network")) {
            a.extend(["--network".into(), "none".into()]);
        }
        a.extend(opts);
        a.push(tag.into());
        a.extend(strs(&r["args"]));
        let args: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = e.berth(&args);
        let out = text(&o.stdout);
        let field = format!("run[{i}] {:?}", strs(&r["args"]));
        let code = r["code"].as_i64().unwrap_or(0);
        if o.status.code().map(i64::from) != Some(code) {
            c.bad(
                &field,
                format!(
                    "exit {:?}, expected {code}; stdout {out:?} stderr {:?}",
                    o.status.code(),
                    text(&o.stderr)
                ),
            );
        }
        if let Some(want) = r["stdout"].as_str() {
            if out != want {
                c.bad(&field, format!("stdout {out:?}, expected {want:?}"));
            }
        }
        if let Some(want) = r["contains"].as_str() {
            if !out.contains(want) {
                c.bad(&field, format!("stdout {out:?} lacks {want:?}"));
            }
        }
    }
}

/// Builds one entry and checks it; returns its mismatches.
fn run_entry(e: &Engine, dir: &Path, http_base: &str) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut problems = Vec::new();
    let exp: Value = match fs::read(dir.join("expect.json"))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(err) => return vec![format!("{name}: expect.json: {err}")],
    };
    let work = e.work.path().join(&name);
    fs::create_dir_all(&work).unwrap();
    let ctx = work.join("ctx");
    copy_tree(dir, &ctx);
    let _ = fs::remove_file(ctx.join("expect.json"));
    let http = format!("{http_base}/{name}/serve");
    let mut c = Check {
        entry: name.clone(),
        problems: &mut problems,
    };
    if let Some(script) = exp["setup"].as_str() {
        let o = Command::new("sh")
            .arg("-ec")
            .arg(script)
            .current_dir(&ctx)
            .output()
            .expect("sh");
        if !o.status.success() {
            c.bad("setup", text(&o.stderr));
            return problems;
        }
    }
    let tag = format!("corpus/{}:latest", name.to_ascii_lowercase());
    let mut args: Vec<String> = vec!["build".into(), "--progress".into(), "plain".into()];
    let fails = exp["fail"].as_str();
    if fails.is_none() {
        args.extend(["-t".into(), tag.clone()]);
    }
    args.extend(
        strs(&exp["args"])
            .iter()
            .map(|a| subst(a, &ctx, &work, &http)),
    );
    args.push(ctx.to_string_lossy().into_owned());
    if let Some(c) = exp["context"].as_str() {
        *args.last_mut().unwrap() = subst(c, &ctx, &work, &http);
    }
    if exp["iidfile"].as_bool() == Some(true) {
        let at = args.len() - 1;
        args.insert(at, "--iidfile".into());
        args.insert(at + 1, work.join("iid").to_string_lossy().into_owned());
    }
    let stdin = match exp["stdin"].as_str() {
        Some(f) => match fs::read(ctx.join(f)) {
            Ok(b) => b,
            Err(err) => {
                c.bad("stdin", format!("{f}: {err}"));
                return problems;
            }
        },
        None => Vec::new(),
    };
    // Earlier builds (`builds` > 1) must succeed; the last one is checked.
    let mut o = None;
    for _ in 0..exp["builds"].as_u64().unwrap_or(1).max(1) {
        let mut cmd = e.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
        for (k, v) in exp["env"].as_object().into_iter().flatten() {
            cmd.env(k, v.as_str().unwrap_or(""));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth build");
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(&stdin);
        drop(input);
        o = Some(child.wait_with_output().expect("berth build"));
    }
    let o = o.expect("one build at least");
    let err = text(&o.stderr);
    match fails {
        Some(want) => {
            if o.status.success() {
                c.bad("fail", format!("the build succeeded, expected {want:?}"));
            } else if !err.contains(want) {
                c.bad("fail", format!("stderr lacks {want:?}:\n{err}"));
            }
        }
        None if !o.status.success() => {
            let tail: Vec<&str> = err.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            c.bad("build", format!("failed:\n    {}", tail.join("\n    ")));
        }
        None => {
            check_image(&mut c, e, &tag, &exp);
            if exp["iidfile"].as_bool() == Some(true) {
                let iid = fs::read_to_string(work.join("iid")).unwrap_or_default();
                let id = e.ok(&["image", "inspect", "--format", "{{.Id}}", &tag]);
                if iid.trim() != id.trim() || iid.is_empty() {
                    c.bad("iidfile", format!("{iid:?}, the image is {:?}", id.trim()));
                }
            }
            for want in exp["stderr_contains"].as_array().into_iter().flatten() {
                let want = want.as_str().unwrap_or("");
                if !err.contains(want) {
                    c.bad("stderr", format!("lacks {want:?}:\n{err}"));
                }
            }
        }
    }
    for h in exp["host_absent"].as_array().into_iter().flatten() {
        let h = h.as_str().unwrap_or("");
        if fs::symlink_metadata(h).is_ok() {
            c.bad(
                &format!("host_absent[{h}]"),
                "the build wrote outside the image".into(),
            );
            let _ = fs::remove_file(h);
        }
    }
    if let Some(reason) = exp["xfail"].as_str() {
        if problems.is_empty() {
            return vec![format!(
                "{name}: xfail: marked as a known gap ({reason}) but it now passes: remove the marker"
            )];
        }
        eprintln!("{name}: expected failure ({reason}):");
        for p in &problems {
            eprintln!("    {p}");
        }
        return Vec::new();
    }
    let _ = fs::remove_dir_all(&work);
    problems
}

fn run_part(part: usize) {
    let Some(e) = Engine::new(&format!("corpus{part}")) else {
        return;
    };
    let port = serve(corpus_dir());
    let base = format!("http://127.0.0.1:{port}");
    let mut problems = Vec::new();
    let mut n = 0;
    for (i, dir) in entries().iter().enumerate() {
        if i % PARTS != part {
            continue;
        }
        n += 1;
        let t = std::time::Instant::now();
        let p = run_entry(&e, dir, &base);
        eprintln!(
            "corpus {}: {} ({:.1}s)",
            dir.file_name().unwrap().to_string_lossy(),
            if p.is_empty() { "ok" } else { "MISMATCH" },
            t.elapsed().as_secs_f64()
        );
        problems.extend(p);
    }
    assert!(n > 0, "part {part} has no entries");
    assert!(
        problems.is_empty(),
        "{} mismatch(es) in the build corpus:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn corpus_part_0() {
    run_part(0);
}

#[test]
fn corpus_part_1() {
    run_part(1);
}

#[test]
fn corpus_part_2() {
    run_part(2);
}

#[test]
fn corpus_part_3() {
    run_part(3);
}
