//! The redrawing build display (`--progress tty`, and `auto` on a terminal), drawn
//! with indicatif as pulls are: a live area at the bottom with a header
//! (`[+] Building 3.2s (4/7)`) and each running step with its elapsed time and the
//! last lines of its output; a finished step leaves the live area as one permanent
//! line above it (`#4 [a 2/3] RUN make  DONE 1.2s`, `CACHED`, `ERROR: ...`).
//!
//! It draws to stderr through escape sequences of its own rather than indicatif's
//! terminal detection, which hides everything when TERM is unset or `dumb`: asking
//! for `tty` is asking for the redrawing display.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::progress::End;

/// Output lines of a running step shown under it.
const TAIL: usize = 5;

pub(crate) struct Tty {
    multi: MultiProgress,
    header: ProgressBar,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: BTreeMap<usize, Step>,
    begun: usize,
    finished: usize,
    complete: bool,
}

struct Step {
    bar: ProgressBar,
    title: String,
    tail: VecDeque<String>,
}

/// `12.3s` since the bar began.
fn secs(s: &ProgressState, w: &mut dyn std::fmt::Write) {
    let _ = write!(w, "{:.1}s", s.elapsed().as_secs_f64());
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid template")
        .with_key("secs", secs)
}

/// `text` without control characters or escape sequences (a step's own colours
/// and cursor moves would break the redraw), cut to `width` characters.
fn clean(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if n >= width {
            break;
        }
        match c {
            '\x1b' => {
                // CSI: `ESC [` parameters, then one final byte in @..~.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\t' => {
                out.push(' ');
                n += 1;
            }
            c if c.is_control() => {}
            c => {
                out.push(c);
                n += 1;
            }
        }
    }
    out
}

impl Tty {
    pub fn stderr() -> Tty {
        Tty::to(ProgressDrawTarget::term_like_with_hz(
            Box::new(StderrTerm),
            20,
        ))
    }

    fn to(target: ProgressDrawTarget) -> Tty {
        let multi = MultiProgress::with_draw_target(target);
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(style("[+] Building {secs} ({msg})"));
        header.set_message("0/0");
        header.enable_steady_tick(Duration::from_millis(100));
        Tty {
            multi,
            header,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn counts(&self, st: &State) {
        self.header
            .set_message(format!("{}/{}", st.finished, st.begun));
    }

    pub fn complete(&self) {
        self.state().complete = true;
    }

    /// Permanent lines above the live area, printed together.
    pub fn println(&self, text: &str) {
        let lines: Vec<String> = text.split('\n').map(|l| clean(l, usize::MAX)).collect();
        let _ = self.multi.println(lines.join("\n"));
    }

    pub fn begin(&self, n: usize, title: &str) {
        let width = StderrTerm::size().1 as usize;
        let title = clean(&format!("#{n} {title}"), width.saturating_sub(12).max(20));
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(style(" => {prefix} {secs}"));
        bar.set_prefix(title.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        let mut st = self.state();
        st.begun += 1;
        st.running.insert(
            n,
            Step {
                bar,
                title,
                tail: VecDeque::new(),
            },
        );
        self.counts(&st);
    }

    pub fn line(&self, n: usize, text: &str) {
        let width = StderrTerm::size().1 as usize;
        let mut st = self.state();
        let Some(step) = st.running.get_mut(&n) else {
            return;
        };
        if step.tail.is_empty() {
            step.bar.set_style(style(" => {prefix} {secs}\n{msg}"));
        }
        if step.tail.len() == TAIL {
            step.tail.pop_front();
        }
        step.tail
            .push_back(clean(text, width.saturating_sub(8).max(20)));
        let shown: Vec<String> = step.tail.iter().map(|l| format!(" => # {l}")).collect();
        step.bar.set_message(shown.join("\n"));
    }

    pub fn end(&self, n: usize, how: End<'_>) {
        let mut st = self.state();
        let Some(step) = st.running.remove(&n) else {
            return;
        };
        step.bar.finish_and_clear();
        self.multi.remove(&step.bar);
        let status = match how {
            End::Done(t) => format!("DONE {t:.1}s"),
            End::Cached => "CACHED".to_string(),
            End::Error(msg) => format!("ERROR: {msg}"),
        };
        st.finished += 1;
        self.counts(&st);
        self.println(&format!(" => {}  {status}", step.title));
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let st = std::mem::take(&mut *self.state());
        // Steps a failure elsewhere left unfinished end with the display.
        for step in st.running.values() {
            step.bar.finish_and_clear();
            self.multi.remove(&step.bar);
        }
        let verdict = if st.complete { "FINISHED" } else { "ERROR" };
        self.println(&format!(
            "[+] Building {:.1}s ({}/{}) {verdict}",
            self.started.elapsed().as_secs_f64(),
            st.finished,
            st.begun
        ));
        self.header.finish_and_clear();
        self.multi.remove(&self.header);
    }
}

/// Stderr driven with ANSI sequences, its size from the kernel (80x24 when it is
/// no terminal).
#[derive(Debug)]
struct StderrTerm;

impl StderrTerm {
    /// (rows, columns).
    fn size() -> (u16, u16) {
        match rustix::termios::tcgetwinsize(io::stderr()) {
            Ok(w) if w.ws_row > 0 && w.ws_col > 0 => (w.ws_row, w.ws_col),
            _ => (24, 80),
        }
    }

    fn put(s: &str) -> io::Result<()> {
        io::stderr().lock().write_all(s.as_bytes())
    }

    fn moved(n: usize, dir: char) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        Self::put(&format!("\x1b[{n}{dir}"))
    }
}

impl indicatif::TermLike for StderrTerm {
    fn width(&self) -> u16 {
        Self::size().1
    }

    fn height(&self) -> u16 {
        Self::size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        Self::moved(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        Self::moved(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        Self::moved(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        Self::moved(n, 'D')
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        Self::put(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        Self::put(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        Self::put("\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_steps_show_their_last_lines() {
        let t = Tty::to(ProgressDrawTarget::hidden());
        t.begin(1, "[a 2/2] RUN make");
        t.begin(2, "[b 2/2] RUN test");
        for i in 0..8 {
            t.line(1, &format!("line {i}"));
        }
        let message = |n| t.state().running[&n].bar.message();
        let shown: Vec<String> = (3..8).map(|i| format!(" => # line {i}")).collect();
        assert_eq!(message(1), shown.join("\n"));
        assert_eq!(message(2), "");
        assert_eq!(t.state().running[&1].title, "#1 [a 2/2] RUN make");
        t.end(1, End::Done(0.5));
        t.end(2, End::Cached);
        let st = t.state();
        assert!(st.running.is_empty());
        assert_eq!((st.begun, st.finished), (2, 2));
        assert_eq!(t.header.message(), "2/2");
    }

    #[test]
    fn control_characters_and_width() {
        assert_eq!(clean("a\tb\x1b[31mred\x1b[0m\r", 80), "a bred");
        assert_eq!(clean("abcdef", 3), "abc");
        assert_eq!(clean("héllo", 2), "hé");
    }
}
