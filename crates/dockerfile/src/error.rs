use std::fmt;

/// Why a Dockerfile was rejected, and where.
///
/// `Display` reads `Dockerfile:7:5: unknown instruction: RUNN (did you mean RUN?)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The name the caller gave the file (`Dockerfile` for [`crate::parse`]).
    pub file: String,
    /// 1-based physical line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A parse failure before the file name is known: the position and message only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        Failure {
            line,
            column,
            message: message.into(),
        }
    }

    pub(crate) fn into_error(self, file: &str) -> ParseError {
        ParseError {
            file: file.to_string(),
            line: self.line,
            column: self.column,
            message: self.message,
        }
    }
}

/// Shortens user text quoted in a message so a hostile 10 MB word does not
/// become a 10 MB error.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
