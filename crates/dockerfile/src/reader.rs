//! Physical lines to logical lines: comments, empty lines, line continuations
//! and heredoc bodies, following BuildKit's scanner loop.

use crate::directives::{DirectiveParser, Directives};
use crate::error::Failure;

/// One piece of a logical line and where it came from.
#[derive(Debug, Clone)]
struct Segment {
    /// Byte offset of the piece in the logical text.
    start: usize,
    line: usize,
    /// 1-based character column of the piece's first character.
    column: usize,
}

/// An instruction's text with continuations joined, mapped back to the file.
#[derive(Debug, Clone)]
pub(crate) struct LogicalLine {
    pub text: String,
    segments: Vec<Segment>,
    pub end_line: usize,
    /// The escape character in force when the line was read.
    pub escape: char,
}

impl LogicalLine {
    /// (line, column) of the character at byte `offset` of `text`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let idx = self
            .segments
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1);
        let seg = &self.segments[idx];
        let prefix = self
            .text
            .get(seg.start..offset)
            .map_or(0, |s| s.chars().count());
        (seg.line, seg.column + prefix)
    }

    #[cfg(test)]
    pub(crate) fn start(&self) -> (usize, usize) {
        (self.segments[0].line, self.segments[0].column)
    }
}

pub(crate) struct Reader<'a> {
    lines: Vec<&'a str>,
    next: usize,
    directives: DirectiveParser,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        let source = source.strip_prefix('\u{feff}').unwrap_or(source);
        // Like Go's bufio.ScanLines: "\n" ends a line, one "\r" before it is
        // dropped, and a final newline does not start another line.
        let body = source.strip_suffix('\n').unwrap_or(source);
        let lines = if source.is_empty() {
            Vec::new()
        } else {
            body.split('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l))
                .collect()
        };
        Reader {
            lines,
            next: 0,
            directives: DirectiveParser::new(),
        }
    }

    pub(crate) fn directives(&self) -> &Directives {
        &self.directives.directives
    }

    fn escape(&self) -> char {
        self.directives.directives.escape
    }

    /// The next instruction line, or `None` at the end of the file.
    pub(crate) fn next_logical(&mut self) -> Result<Option<LogicalLine>, Failure> {
        while self.next < self.lines.len() {
            let raw = self.lines[self.next];
            self.next += 1;
            let line_no = self.next;
            let trimmed = raw.trim_start();
            let column = raw[..raw.len() - trimmed.len()].chars().count() + 1;
            self.directives
                .feed(trimmed)
                .map_err(|m| Failure::new(line_no, column, m))?;
            let content = if trimmed.starts_with('#') {
                ""
            } else {
                trimmed
            };
            let (text, mut ended) = trim_continuation(content, self.escape());
            if ended && text.is_empty() {
                continue;
            }
            let mut logical = LogicalLine {
                text: text.to_string(),
                segments: vec![Segment {
                    start: 0,
                    line: line_no,
                    column,
                }],
                end_line: line_no,
                escape: self.escape(),
            };
            while !ended && self.next < self.lines.len() {
                let raw = self.lines[self.next];
                self.next += 1;
                logical.end_line = self.next;
                // Docker drops comment lines and blank lines inside a
                // continued instruction instead of ending it.
                let lead = raw.trim_start();
                if lead.starts_with('#') || lead.is_empty() {
                    continue;
                }
                let (text, end) = trim_continuation(raw, self.escape());
                ended = end;
                logical.segments.push(Segment {
                    start: logical.text.len(),
                    line: self.next,
                    column: 1,
                });
                logical.text.push_str(text);
            }
            return Ok(Some(logical));
        }
        Ok(None)
    }

    /// Reads a heredoc body up to its terminator line. `chomp` (`<<-`) lets the
    /// terminator be indented with tabs; stripping the body's tabs is the
    /// caller's job.
    pub(crate) fn heredoc_body(&mut self, terminator: &str, chomp: bool) -> Option<String> {
        let mut body = String::new();
        while self.next < self.lines.len() {
            let raw = self.lines[self.next];
            self.next += 1;
            let candidate = if chomp {
                raw.trim_start_matches('\t')
            } else {
                raw
            };
            if candidate == terminator {
                return Some(body);
            }
            body.push_str(raw);
            body.push('\n');
        }
        None
    }

    /// The 1-based number of the last line consumed.
    pub(crate) fn current_line(&self) -> usize {
        self.next.max(1)
    }
}

/// Removes a trailing escape character (plus spaces and tabs after it) and
/// says whether the line ends the instruction.
fn trim_continuation(text: &str, escape: char) -> (&str, bool) {
    let t = text.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(rest) => (rest, false),
        None => (text, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logical(src: &str) -> Vec<(String, usize, usize, usize)> {
        let mut r = Reader::new(src);
        let mut out = Vec::new();
        while let Some(l) = r.next_logical().unwrap() {
            let (line, col) = l.start();
            out.push((l.text.clone(), line, col, l.end_line));
        }
        out
    }

    #[test]
    fn joins_continuations_and_drops_comments_and_blank_lines_inside() {
        let src = "FROM x\n  RUN a \\\n# comment\n\n    b \\  \n  c\n# tail\nCMD d\n";
        assert_eq!(
            logical(src),
            vec![
                ("FROM x".into(), 1, 1, 1),
                ("RUN a     b   c".into(), 2, 3, 6),
                ("CMD d".into(), 8, 1, 8)
            ]
        );
    }

    #[test]
    fn backtick_escape_continues_lines() {
        let src = "# escape=`\nRUN a `\n b\\\nCMD c";
        assert_eq!(
            logical(src),
            vec![("RUN a  b\\".into(), 2, 1, 3), ("CMD c".into(), 4, 1, 4)]
        );
    }

    #[test]
    fn crlf_and_bom_are_handled() {
        assert_eq!(
            logical("\u{feff}FROM x\r\nRUN y\r\n"),
            vec![("FROM x".into(), 1, 1, 1), ("RUN y".into(), 2, 1, 2)]
        );
    }

    #[test]
    fn continuation_at_end_of_file_ends_the_instruction() {
        assert_eq!(logical("RUN a \\"), vec![("RUN a ".into(), 1, 1, 1)]);
    }

    #[test]
    fn positions_map_back_through_continuations() {
        let mut r = Reader::new("  RUN a \\\n  --b\n");
        let l = r.next_logical().unwrap().unwrap();
        assert_eq!(l.text, "RUN a   --b");
        assert_eq!(l.position(0), (1, 3));
        assert_eq!(l.position(4), (1, 7));
        assert_eq!(l.position(l.text.find("--").unwrap()), (2, 3));
    }

    #[test]
    fn heredoc_bodies_with_chomp() {
        let mut r = Reader::new("RUN <<-EOF\n\tone\n\t\tEOF\nRUN x\n");
        r.next_logical().unwrap();
        assert_eq!(r.heredoc_body("EOF", true).as_deref(), Some("\tone\n"));
        assert_eq!(r.next_logical().unwrap().unwrap().text, "RUN x");
        let mut r = Reader::new("RUN <<EOF\nbody\n");
        r.next_logical().unwrap();
        assert_eq!(r.heredoc_body("EOF", false), None);
    }
}
