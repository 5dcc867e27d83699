//! Pull/push progress as Docker shows it: one bar per layer on a terminal, plain
//! `<short id>: <status>` lines otherwise, nothing in quiet mode. Shared by the download
//! tasks, so every method takes `&self`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Plain,
    Bars,
}

pub struct Progress {
    mode: Mode,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let multi = (mode == Mode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Progress {
            mode,
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// Bars on a terminal, lines otherwise.
    pub fn auto(quiet: bool) -> Progress {
        use std::io::IsTerminal;
        Progress::new(if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        })
    }

    pub fn quiet() -> Progress {
        Progress::new(Mode::Quiet)
    }

    /// A whole line (`Digest: ...`, `Status: ...`), printed above any bars.
    pub fn line(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None if self.mode == Mode::Plain => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{msg}");
            }
            None => {}
        }
    }

    /// A layer's status (`Pulling fs layer`, `Already exists`, `Pushed`...).
    pub fn status(&self, id: &str, msg: &str) {
        match &self.multi {
            Some(m) => {
                let mut bars = self.bars.lock().expect("lock");
                let bar = bars.entry(id.to_string()).or_insert_with(|| {
                    let b = m.add(ProgressBar::new(0));
                    b.set_style(ProgressStyle::with_template("{prefix}: {msg}").expect("template"));
                    b.set_prefix(id.to_string());
                    b
                });
                bar.set_message(msg.to_string());
                bar.tick();
            }
            None => self.line(&format!("{id}: {msg}")),
        }
    }

    /// Starts the byte count for a layer of `total` bytes; plain mode prints one
    /// `Downloading`/`Pushing` line (byte-by-byte updates would flood a log).
    pub fn start_bytes(&self, id: &str, verb: &str, total: u64) {
        match &self.multi {
            Some(_) => {
                self.status(id, verb);
                if let Some(b) = self.bars.lock().expect("lock").get(id) {
                    b.set_length(total);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}",
                        )
                        .expect("template")
                        .progress_chars("=> "),
                    );
                }
            }
            None => self.status(id, verb),
        }
    }

    pub fn add_bytes(&self, id: &str, n: u64) {
        if self.multi.is_some() {
            if let Some(b) = self.bars.lock().expect("lock").get(id) {
                b.inc(n);
            }
        }
    }

    /// Resets a byte count (a retry that restarted from zero).
    pub fn set_bytes(&self, id: &str, n: u64) {
        if self.multi.is_some() {
            if let Some(b) = self.bars.lock().expect("lock").get(id) {
                b.set_position(n);
            }
        }
    }

    /// A final status; the bar stops moving but stays on screen like Docker's.
    pub fn finish(&self, id: &str, msg: &str) {
        self.status(id, msg);
        if self.multi.is_some() {
            if let Some(b) = self.bars.lock().expect("lock").get(id) {
                b.set_style(ProgressStyle::with_template("{prefix}: {msg}").expect("template"));
                b.finish();
            }
        }
    }
}

/// Docker's 12-hex-digit short form of a digest.
pub fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}
