//! `berth build` with stages that do not need each other: built side by side, their
//! progress lines whole and numbered, a failure in one stopping the build with its
//! error, and the redrawing `--progress tty` display (under `script`, which gives
//! berth a pseudo-terminal).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use common::build::{build, context};

/// A context holding only a Dockerfile.
fn dockerfile(e: &Engine, name: &str, text: &str) -> PathBuf {
    context(e, name, &[("Dockerfile", text)])
}
use common::engine::{show, text, Engine, BERTH};

fn image_id(e: &Engine, image: &str) -> String {
    e.ok(&["image", "inspect", "--format", "{{.Id}}", image])
        .trim()
        .to_string()
}

/// A name no other run of this test uses (cache ids outlive nothing here, each
/// test has its own store, but a unique one rules out any doubt).
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos:x}", std::process::id())
}

/// A RUN that leaves `/c/<me>` in the shared cache and waits (up to 60 s) for
/// `/c/<other>`: it completes only while the other stage's RUN runs too.
fn rendezvous(id: &str, me: &str, other: &str) -> String {
    format!(
        "RUN --mount=type=cache,id={id},target=/c,sharing=shared \\\n    \
         echo {me}-here > /c/{me} && i=0 && \\\n    \
         while [ ! -f /c/{other} ]; do i=$((i+1)); [ $i -le 600 ] || exit 9; sleep 0.1; done && \\\n    \
         echo {me}-met-{other} && echo {me} > /{me}.txt\n"
    )
}

/// One vertex of BuildKit's plain output.
#[derive(Debug, Default)]
struct Vertex {
    title: String,
    lines: Vec<String>,
    end: Option<String>,
}

/// Parses plain progress output, checking its grammar: every `#N` line belongs to
/// a vertex announced before by `#N TITLE`; a vertex's output lines are
/// `#N SECONDS TEXT`; it ends once, with `DONE 1.2s`, `CACHED` or `ERROR: ...`.
/// Other lines are blank, `WARNING:` or the framed tail of a failure.
#[track_caller]
fn parse_plain(out: &str) -> BTreeMap<usize, Vertex> {
    assert!(
        !out.contains('\x1b'),
        "escape sequences in plain output:\n{out}"
    );
    let mut vs: BTreeMap<usize, Vertex> = BTreeMap::new();
    let mut in_tail = false;
    for l in out.lines() {
        if l == "------" {
            in_tail = !in_tail;
            continue;
        }
        if in_tail || l.is_empty() || l.starts_with("WARNING:") || !l.starts_with('#') {
            continue;
        }
        let (num, rest) = l[1..].split_once(' ').unwrap_or((&l[1..], ""));
        let n: usize = num
            .parse()
            .unwrap_or_else(|_| panic!("bad line {l:?}:\n{out}"));
        let Some(v) = vs.get_mut(&n) else {
            vs.insert(
                n,
                Vertex {
                    title: rest.to_string(),
                    ..Vertex::default()
                },
            );
            continue;
        };
        assert!(v.end.is_none(), "#{n} went on after it ended: {l:?}\n{out}");
        let timed = rest
            .split_once(' ')
            .is_some_and(|(t, _)| t.contains('.') && t.parse::<f64>().is_ok());
        if rest.starts_with("DONE ") || rest == "CACHED" || rest.starts_with("ERROR: ") {
            v.end = Some(rest.to_string());
        } else if timed {
            v.lines.push(rest.split_once(' ').unwrap().1.to_string());
        } else {
            // Notes of the export vertex (`writing image ...`).
            v.lines.push(rest.to_string());
        }
    }
    vs
}

fn find<'a>(vs: &'a BTreeMap<usize, Vertex>, title: &str) -> (usize, &'a Vertex) {
    vs.iter()
        .find(|(_, v)| v.title.contains(title))
        .map(|(n, v)| (*n, v))
        .unwrap_or_else(|| panic!("no vertex titled {title:?}: {vs:#?}"))
}

#[test]
fn independent_stages_build_at_the_same_time() {
    let Some(e) = Engine::new("build_parallel") else {
        return;
    };
    let id = unique("rendezvous");
    let dir = dockerfile(
        &e,
        "par",
        &format!(
            "FROM busybox AS a\n{}\
             FROM busybox AS b\n{}\
             FROM busybox\nCOPY --from=a /a.txt /\nCOPY --from=b /b.txt /\n\
             CMD [\"cat\", \"/a.txt\", \"/b.txt\"]\n",
            rendezvous(&id, "a", "b"),
            rendezvous(&id, "b", "a"),
        ),
    );
    let o = build(&e, &dir, &["--progress", "plain", "-t", "par:1"]);
    assert!(o.status.success(), "the stages did not meet: {}", show(&o));
    let err = text(&o.stderr);
    let vs = parse_plain(&err);
    // Each RUN's output carries its own vertex's number.
    for (me, other) in [("a", "b"), ("b", "a")] {
        let (_, v) = find(&vs, &format!("[{me} 2/2] RUN"));
        assert!(
            v.lines.iter().any(|l| l == &format!("{me}-met-{other}")),
            "{me}'s output is not under its vertex: {v:?}\n{err}"
        );
        assert!(
            v.end.as_deref().is_some_and(|x| x.starts_with("DONE")),
            "{v:?}"
        );
    }
    for v in vs.values() {
        assert!(v.end.is_some(), "a vertex never ended: {v:?}\n{err}");
    }
    let out = e.ok(&["run", "--rm", "--network", "none", "par:1"]);
    assert_eq!(out, "a\nb\n");

    // Fully cached: every step CACHED, the same image.
    let o = build(&e, &dir, &["--progress", "plain", "-t", "par:2"]);
    assert!(o.status.success(), "{}", show(&o));
    let again = parse_plain(&text(&o.stderr));
    let runs_and_copies: Vec<&Vertex> = again
        .values()
        .filter(|v| v.title.contains("] RUN") || v.title.contains("] COPY"))
        .collect();
    assert_eq!(runs_and_copies.len(), 4, "{again:#?}");
    for v in runs_and_copies {
        assert_eq!(v.end.as_deref(), Some("CACHED"), "{v:?}");
    }
    assert_eq!(image_id(&e, "par:2"), image_id(&e, "par:1"));

    // Whichever stage finishes first, the same inputs make the same image.
    let epoch = ["--no-cache", "--source-date-epoch", "1700000000"];
    let o = build(&e, &dir, &[&epoch[..], &["-t", "par:3"]].concat());
    assert!(o.status.success(), "{}", show(&o));
    let o = build(&e, &dir, &[&epoch[..], &["-t", "par:4"]].concat());
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(image_id(&e, "par:3"), image_id(&e, "par:4"));
}

#[test]
fn a_failing_stage_stops_the_build_with_its_error() {
    let Some(e) = Engine::new("build_parallel_fail") else {
        return;
    };
    let id = unique("failure");
    // a waits until b's failing step has begun, so both run together.
    let dir = dockerfile(
        &e,
        "fail",
        &format!(
            "FROM busybox AS a\n\
             RUN --mount=type=cache,id={id},target=/c i=0; \
             while [ ! -f /c/b ]; do i=$((i+1)); [ $i -le 600 ] || exit 9; sleep 0.1; done; echo a-ran\n\
             FROM busybox AS b\n\
             RUN --mount=type=cache,id={id},target=/c echo b-output; touch /c/b; exit 7\n\
             FROM busybox AS final\nCOPY --from=a /etc/passwd /a\nCOPY --from=b /etc/passwd /b\n"
        ),
    );
    let before = e.ok(&["images", "-q"]);
    let o = build(&e, &dir, &["--progress", "plain", "-t", "broken:1"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    // The error is b's, with the tail of b's output, as a serial build gives it.
    assert!(err.contains("[b 2/2] RUN: process"), "{err}");
    assert!(
        err.contains("did not complete successfully: exit code: 7"),
        "{err}"
    );
    assert!(err.contains(" > [b 2/2] RUN"), "no failure frame: {err}");
    assert!(!err.contains("another stage failed"), "{err}");
    let vs = parse_plain(&err);
    let (_, b) = find(&vs, "[b 2/2] RUN");
    assert!(b.lines.iter().any(|l| l == "b-output"), "{b:?}");
    assert!(
        b.end.as_deref().is_some_and(|x| x.starts_with("ERROR: ")),
        "{b:?}"
    );
    // The stage that needs b never starts.
    assert!(!err.contains("[final"), "{err}");
    assert_eq!(
        e.ok(&["images", "-q"]),
        before,
        "a failed build stored an image"
    );
}

/// Columns of the pseudo-terminal the tty tests give berth.
const COLS: usize = 100;

/// Runs `berth ARGS` under `script`, on a pseudo-terminal of `COLS` columns; its
/// exit status and everything it wrote there.
fn on_a_tty(e: &Engine, args: &[&str]) -> (Option<i32>, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut line = vec![
        format!("stty cols {COLS} rows 40;"),
        quote(BERTH),
        "--root".into(),
        quote(e.root.path().to_str().unwrap()),
        "--runroot".into(),
        quote(e.runroot.to_str().unwrap()),
    ];
    line.extend(args.iter().map(|a| quote(a)));
    let o = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env_remove("BERTH_ROOT")
        .env_remove("BERTH_RUNROOT")
        .env("BERTH_DNS_UPSTREAM", "127.0.0.1:9")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs berth on a pseudo-terminal: install util-linux");
    (o.status.code(), text(&o.stdout))
}

/// What a terminal of `COLS` columns (and unlimited rows) shows once `out` is
/// written to it: text, CR, LF, wrapping at the last column, and the sequences
/// indicatif draws with (cursor up/down/left/right, clear line).
fn screen(out: &str) -> Vec<String> {
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => row += 1,
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut arg = String::new();
                let mut op = ' ';
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        op = c;
                        break;
                    }
                    arg.push(c);
                }
                let n: usize = arg.parse().unwrap_or(1);
                match op {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'C' => col = (col + n).min(COLS - 1),
                    'D' => col = col.min(COLS - 1).saturating_sub(n),
                    'K' if arg == "2" => {
                        if let Some(r) = rows.get_mut(row) {
                            r.clear();
                        }
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                // A character past the last column wraps first.
                if col >= COLS {
                    row += 1;
                    col = 0;
                }
                while rows.len() <= row {
                    rows.push(Vec::new());
                }
                let r = &mut rows[row];
                while r.len() <= col {
                    r.push(' ');
                }
                r[col] = c;
                col += 1;
            }
        }
        while rows.len() <= row {
            rows.push(Vec::new());
        }
    }
    rows.iter()
        .map(|r| r.iter().collect::<String>().trim_end().to_string())
        .collect()
}

/// Whether `out` moves the cursor up (`ESC [ N A`) and clears a line (`ESC [ 2K`).
fn redraws(out: &str) -> bool {
    let up = out.split("\x1b[").skip(1).any(|s| {
        let digits = s.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && s[digits..].starts_with('A')
    });
    up && out.contains("\x1b[2K")
}

#[test]
fn tty_progress_redraws_and_plain_stays_plain() {
    let Some(e) = Engine::new("build_parallel_tty") else {
        return;
    };
    let dir = dockerfile(
        &e,
        "tty",
        "FROM busybox AS a\nRUN for i in 1 2 3; do echo tick-$i; sleep 0.2; done; echo a > /a\n\
         FROM busybox AS b\nRUN echo b-line; echo b > /b\n\
         FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n",
    );
    let (code, out) = on_a_tty(
        &e,
        &[
            "build",
            "--progress",
            "tty",
            "-t",
            "tty:1",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    // Redrawn: the cursor goes up and lines are cleared.
    assert!(redraws(&out), "no redraw sequences: {out:?}");
    let shown = screen(&out).join("\n");
    for step in [
        "[a 2/2] RUN",
        "[b 2/2] RUN",
        "[stage-2 2/3] COPY",
        "[stage-2 3/3] COPY",
    ] {
        let done = shown
            .lines()
            .any(|l| l.starts_with(" => #") && l.contains(step) && l.contains("  DONE "));
        assert!(done, "{step} not shown DONE: {shown}");
    }
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("[+] Building") && l.ends_with(" FINISHED")),
        "{shown}"
    );

    // Again: every step CACHED, and the same image.
    let (code, out) = on_a_tty(
        &e,
        &[
            "build",
            "--progress",
            "tty",
            "-t",
            "tty:2",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let shown = screen(&out).join("\n");
    assert!(
        shown
            .lines()
            .any(|l| l.contains("[a 2/2] RUN") && l.ends_with("  CACHED")),
        "{shown}"
    );
    assert_eq!(image_id(&e, "tty:2"), image_id(&e, "tty:1"));

    // `auto` on a terminal redraws too; `plain` there stays plain.
    let (code, out) = on_a_tty(&e, &["build", "-t", "tty:3", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(redraws(&out) && out.contains("[+] Building"), "{out:?}");
    let (code, out) = on_a_tty(&e, &["build", "--progress", "plain", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let vs = parse_plain(&out);
    assert_eq!(find(&vs, "[a 2/2] RUN").1.end.as_deref(), Some("CACHED"));

    // A failure shows the step's error and the tail of its output, as plain does.
    let bad = dockerfile(&e, "tty-bad", "FROM busybox\nRUN echo last-words; exit 4\n");
    let (code, out) = on_a_tty(&e, &["build", "--progress", "tty", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    let shown = screen(&out).join("\n");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with(" => #2 [stage-0 2/2] RUN") && l.contains("  ERROR: ")),
        "{shown}"
    );
    assert!(
        shown.contains(
            "------\n > [stage-0 2/2] RUN echo last-words; exit 4:\nlast-words\n------\n"
        ),
        "{shown}"
    );
    assert!(shown.contains("exit code: 4"), "{shown}");
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("[+] Building") && l.ends_with(" ERROR")),
        "{shown}"
    );
}
