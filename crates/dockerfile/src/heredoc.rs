//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`) as BuildKit finds
//! them in RUN, COPY and ADD lines.

use crate::expand::{process, NoVariables, Options};

/// A heredoc attached to a RUN, COPY or ADD instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed (`EOF` for `<<"EOF"`); for COPY
    /// and ADD it is also the source file's name.
    pub name: String,
    /// The body, each line ending in `\n`. For `<<-` leading tabs are already
    /// stripped from every line.
    pub content: String,
    /// False when the delimiter was quoted: the builder must not expand
    /// variables in `content`.
    pub expand: bool,
    /// Written as `<<-`.
    pub chomp: bool,
    /// The file descriptor before `<<` (`3<<EOF`); 0 (stdin) when absent.
    pub fd: u32,
}

/// Heredoc markers among the words of an instruction line, in order. Like
/// BuildKit, a line that does not lex (an unterminated quote) has none.
pub(crate) fn markers(line: &str) -> Result<Vec<Heredoc>, String> {
    let raw = Options {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: false,
        skip_quotes: false,
    };
    let Ok((_, words)) = process(line, &NoVariables, raw) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for word in words {
        if let Some(h) = marker(&word)? {
            out.push(h);
        }
    }
    Ok(out)
}

/// `^(\d*)<<(-?)([^<]*)$` with a non-empty delimiter that lexes to one word.
pub(crate) fn marker(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let fd = word[..digits].parse().unwrap_or(0);
    let plain = Options {
        escape: '\\',
        raw_quotes: false,
        raw_escapes: false,
        skip_unset: true,
        skip_quotes: false,
    };
    let (_, words) = process(rest, &NoVariables, plain)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let (_, raw_words) = process(
        rest,
        &NoVariables,
        Options {
            raw_quotes: true,
            ..plain
        },
    )?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    // A quoted delimiter (any part of it) turns expansion off.
    let expand = raw_words
        .first()
        .is_some_and(|raw| quotes(raw) == quotes(name));
    Ok(Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        chomp,
        fd,
    }))
}

/// `<<-`: removes leading tabs from every line of the body.
pub(crate) fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(word: &str) -> Option<(String, bool, bool, u32)> {
        marker(word)
            .unwrap()
            .map(|h| (h.name, h.expand, h.chomp, h.fd))
    }

    #[test]
    fn marker_forms() {
        assert_eq!(m("<<EOF"), Some(("EOF".into(), true, false, 0)));
        assert_eq!(m("<<-EOF"), Some(("EOF".into(), true, true, 0)));
        assert_eq!(m("<<\"EOF\""), Some(("EOF".into(), false, false, 0)));
        assert_eq!(m("<<'EOF'"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(m("<<E\"O\"F"), Some(("EOF".into(), false, false, 0)));
        assert_eq!(m("3<<EOF"), Some(("EOF".into(), true, false, 3)));
        assert_eq!(m("<<"), None);
        assert_eq!(m("<<<EOF"), None);
        assert_eq!(m("x<<EOF"), None);
        assert_eq!(m("<<'A B'"), Some(("A B".into(), false, false, 0)));
    }

    #[test]
    fn markers_on_a_line() {
        let names = |line: &str| {
            markers(line)
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("RUN <<A <<-B cat"), ["A", "B"]);
        assert_eq!(names("COPY <<f1 <<f2 /dest/"), ["f1", "f2"]);
        assert_eq!(names("RUN python3 <<EOF"), ["EOF"]);
        assert_eq!(names("RUN echo \"<<EOF\""), Vec::<String>::new());
        assert_eq!(names("RUN echo '<<EOF"), Vec::<String>::new());
        assert_eq!(names("RUN cat <<EOF > /x"), ["EOF"]);
    }

    #[test]
    fn chomp_strips_leading_tabs_per_line() {
        assert_eq!(chomp("\t\ta\n\tb\t\n c\n"), "a\nb\t\n c\n");
    }
}
