//! Build progress. Each step is a numbered vertex (`#3 [2/4] RUN make`) that ends
//! with `DONE 0.4s`, `CACHED` or `ERROR: ...`; its output lines carry the vertex
//! number and the seconds since it began. Two displays, both on stderr:
//!
//! - plain, BuildKit's `--progress plain` format: lines as they happen. Stages built
//!   side by side write whole lines under one lock, each carrying its `#N`, so their
//!   output interleaves by line and never within one.
//! - tty (see [`super::tty`]): a redrawing view of the running steps with their
//!   elapsed time and last output lines; finished steps scroll up as one line each.
//!
//! `-q` turns both off. Every method takes `&self`: the stages' threads share one.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::tty::Tty;

pub struct Progress {
    next: AtomicUsize,
    display: Display,
}

enum Display {
    Quiet,
    Plain(Mutex<Box<dyn Write + Send>>),
    Tty(Tty),
}

pub struct Vertex {
    pub n: usize,
    started: Instant,
}

/// How a finished vertex ended, for the tty display.
pub(crate) enum End<'a> {
    Done(f64),
    Cached,
    Error(&'a str),
}

impl Progress {
    /// Plain lines to `out` (nothing when `quiet`).
    pub fn new(quiet: bool, out: Box<dyn Write + Send>) -> Progress {
        Progress {
            next: AtomicUsize::new(1),
            display: if quiet {
                Display::Quiet
            } else {
                Display::Plain(Mutex::new(out))
            },
        }
    }

    /// The redrawing display on stderr, drawn whether or not stderr is a terminal
    /// (the caller decides: `--progress tty` asks for it).
    pub fn tty() -> Progress {
        Progress {
            next: AtomicUsize::new(1),
            display: Display::Tty(Tty::stderr()),
        }
    }

    /// Writes `lines` together: no other vertex's line comes between them.
    fn put(&self, lines: &[&str]) {
        match &self.display {
            Display::Quiet => {}
            Display::Plain(out) => {
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                for l in lines {
                    let _ = writeln!(out, "{l}");
                }
                let _ = out.flush();
            }
            Display::Tty(t) => t.println(&lines.join("\n")),
        }
    }

    pub fn begin(&self, title: &str) -> Vertex {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        match &self.display {
            Display::Tty(t) => t.begin(n, title),
            _ => self.put(&[&format!("#{n} {title}")]),
        }
        Vertex {
            n,
            started: Instant::now(),
        }
    }

    pub fn line(&self, v: &Vertex, text: &str) {
        match &self.display {
            Display::Tty(t) => t.line(v.n, text),
            _ => {
                let t = v.started.elapsed().as_secs_f64();
                self.put(&[&format!("#{} {t:.3} {text}", v.n)]);
            }
        }
    }

    /// A result line of a vertex (`writing image sha256:.. done`): kept on a
    /// terminal too, under the step.
    pub fn note(&self, v: &Vertex, text: &str) {
        match &self.display {
            Display::Tty(t) => t.println(&format!(" => => {text}")),
            _ => self.put(&[&format!("#{} {text}", v.n)]),
        }
    }

    pub fn done(&self, v: Vertex) {
        let t = v.started.elapsed().as_secs_f64();
        match &self.display {
            Display::Tty(tty) => tty.end(v.n, End::Done(t)),
            _ => self.put(&[&format!("#{} DONE {t:.1}s", v.n), ""]),
        }
    }

    pub fn cached(&self, v: Vertex) {
        match &self.display {
            Display::Tty(t) => t.end(v.n, End::Cached),
            _ => self.put(&[&format!("#{} CACHED", v.n), ""]),
        }
    }

    pub fn error(&self, v: &Vertex, msg: &str) {
        match &self.display {
            Display::Tty(t) => t.end(v.n, End::Error(msg)),
            _ => self.put(&[&format!("#{} ERROR: {msg}", v.n)]),
        }
    }

    /// The tail of a failed step's output, framed as BuildKit frames it.
    pub fn failure(&self, title: &str, tail: &[String]) {
        let head = format!(" > {title}:");
        let mut lines = vec!["------", head.as_str()];
        lines.extend(tail.iter().map(String::as_str));
        lines.push("------");
        self.put(&lines);
    }

    pub fn warn(&self, text: &str) {
        self.put(&[&format!("WARNING: {text}")]);
    }

    /// The build succeeded (the tty display's last line says so; without this it
    /// says the build ended in an error).
    pub fn complete(&self) {
        if let Display::Tty(t) = &self.display {
            t.complete();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn plain_lines_keep_buildkit_format() {
        let sink = Sink::default();
        let p = Progress::new(false, Box::new(sink.clone()));
        let a = p.begin("[a 1/2] FROM busybox");
        p.done(a);
        let b = p.begin("[a 2/2] RUN x");
        p.line(&b, "out");
        p.error(&b, "boom");
        p.failure("[a 2/2] RUN x", &["out".into()]);
        let c = p.begin("[b 1/1] FROM busybox");
        p.cached(c);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#1 [a 1/2] FROM busybox");
        assert!(
            lines[1].starts_with("#1 DONE ") && lines[1].ends_with('s'),
            "{text}"
        );
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], "#2 [a 2/2] RUN x");
        assert!(
            lines[4].starts_with("#2 0.0") && lines[4].ends_with(" out"),
            "{text}"
        );
        assert_eq!(
            &lines[5..],
            [
                "#2 ERROR: boom",
                "------",
                " > [a 2/2] RUN x:",
                "out",
                "------",
                "#3 [b 1/1] FROM busybox",
                "#3 CACHED",
                "",
            ]
        );
    }

    #[test]
    fn threads_never_split_a_line() {
        let sink = Sink::default();
        let p = Progress::new(false, Box::new(sink.clone()));
        std::thread::scope(|s| {
            for k in 0..4 {
                let p = &p;
                s.spawn(move || {
                    let v = p.begin(&format!("[s{k} 1/1] RUN x"));
                    for i in 0..200 {
                        p.line(&v, &format!("stage {k} line {i} {}", "x".repeat(50)));
                    }
                    p.done(v);
                });
            }
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let mut seen = 0;
        for l in text.lines().filter(|l| l.contains(" line ")) {
            // `#N 0.123 stage K line I xxx`: N is K's vertex, and nothing else is in it.
            let parts: Vec<&str> = l.split(' ').collect();
            assert_eq!(parts.len(), 7, "{l:?}");
            assert_eq!(parts[6].len(), 50, "{l:?}");
            seen += 1;
        }
        assert_eq!(seen, 800);
    }
}
