//! Docker's confirmation for destructive commands (`prune`, `system reset`) run
//! without `-f`: a warning and `[y/N]` on stderr, an answer from stdin. No answer
//! (stdin closed, as in scripts) means no.

use std::io::BufRead;

/// Prints `WARNING! {what}` and asks; true only for y/yes.
pub fn confirm(what: &str) -> bool {
    eprint!("WARNING! {what}\nAre you sure you want to continue? [y/N] ");
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
}
