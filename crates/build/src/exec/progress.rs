//! Build progress in BuildKit's plain format: each step is a numbered vertex
//! (`#3 [2/4] RUN make`), its output lines carry the seconds since it began, and it
//! ends with `DONE 0.4s`, `CACHED` or `ERROR: ...`. Written to stderr; `-q` turns it
//! off. A terminal gets the same lines (no redrawing display yet).

use std::io::Write;
use std::time::Instant;

pub struct Progress {
    quiet: bool,
    next: usize,
    out: Box<dyn Write + Send>,
}

pub struct Vertex {
    pub n: usize,
    started: Instant,
}

impl Progress {
    pub fn new(quiet: bool, out: Box<dyn Write + Send>) -> Progress {
        Progress {
            quiet,
            next: 1,
            out,
        }
    }

    fn put(&mut self, text: &str) {
        if !self.quiet {
            let _ = writeln!(self.out, "{text}");
            let _ = self.out.flush();
        }
    }

    pub fn begin(&mut self, title: &str) -> Vertex {
        let n = self.next;
        self.next += 1;
        self.put(&format!("#{n} {title}"));
        Vertex {
            n,
            started: Instant::now(),
        }
    }

    pub fn line(&mut self, v: &Vertex, text: &str) {
        let t = v.started.elapsed().as_secs_f64();
        self.put(&format!("#{} {t:.3} {text}", v.n));
    }

    pub fn note(&mut self, v: &Vertex, text: &str) {
        self.put(&format!("#{} {text}", v.n));
    }

    pub fn done(&mut self, v: Vertex) {
        let t = v.started.elapsed().as_secs_f64();
        self.put(&format!("#{} DONE {t:.1}s", v.n));
        self.put("");
    }

    pub fn cached(&mut self, v: Vertex) {
        self.put(&format!("#{} CACHED", v.n));
        self.put("");
    }

    pub fn error(&mut self, v: &Vertex, msg: &str) {
        self.put(&format!("#{} ERROR: {msg}", v.n));
    }

    /// The tail of a failed step's output, framed as BuildKit frames it.
    pub fn failure(&mut self, title: &str, tail: &[String]) {
        self.put("------");
        self.put(&format!(" > {title}:"));
        for l in tail {
            self.put(l);
        }
        self.put("------");
    }

    pub fn warn(&mut self, text: &str) {
        self.put(&format!("WARNING: {text}"));
    }
}
