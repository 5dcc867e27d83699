//! The shell patterns of `${a#pat}`, `${a%pat}` and `${a/pat/repl}`: `*`, `?`
//! and `\*` `\?` `\\` escapes, as BuildKit supports them (no `[...]` classes).
//! Matching simulates the pattern as an automaton, so no input makes it
//! backtrack exponentially.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
}

fn compile(pattern: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::Any),
            '\\' => match chars.peek() {
                // `\}` and `\/` only keep `}` and `/` from ending the ${...}.
                Some('}') | Some('/') => {}
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    toks.push(Tok::Lit(n));
                }
                Some(&n) => {
                    return Err(format!(
                        "invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'"
                    ))
                }
                None => {
                    return Err(format!(
                        "invalid pattern ({pattern}) in substitution: trailing '\\'"
                    ))
                }
            },
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

/// Adds the states reachable without input (a `*` may match nothing).
fn close(toks: &[Tok], states: &mut [bool]) {
    for j in 0..toks.len() {
        if states[j] && toks[j] == Tok::Star {
            states[j + 1] = true;
        }
    }
}

/// Lengths `n` such that `text[start..start + n]` matches the whole pattern,
/// in increasing order.
fn match_lengths(toks: &[Tok], text: &[char], start: usize) -> Vec<usize> {
    let mut states = vec![false; toks.len() + 1];
    states[0] = true;
    close(toks, &mut states);
    let mut out = Vec::new();
    if states[toks.len()] {
        out.push(0);
    }
    for (n, &c) in text[start..].iter().enumerate() {
        let mut next = vec![false; toks.len() + 1];
        let mut any = false;
        for j in 0..toks.len() {
            if !states[j] {
                continue;
            }
            match toks[j] {
                Tok::Star => next[j] = true,
                Tok::Any => next[j + 1] = true,
                Tok::Lit(l) if l == c => next[j + 1] = true,
                Tok::Lit(_) => {}
            }
        }
        close(toks, &mut next);
        for &s in &next {
            any |= s;
        }
        if !any {
            break;
        }
        if next[toks.len()] {
            out.push(n + 1);
        }
        states = next;
    }
    out
}

/// `${v#pat}` (shortest) and `${v##pat}` (longest): removes a matching prefix.
pub(crate) fn trim_prefix(value: &str, pattern: &str, longest: bool) -> Result<String, String> {
    let toks = compile(pattern)?;
    let chars: Vec<char> = value.chars().collect();
    let lens = match_lengths(&toks, &chars, 0);
    let cut = if longest { lens.last() } else { lens.first() };
    Ok(match cut {
        Some(&n) => chars[n..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${v%pat}` (shortest) and `${v%%pat}` (longest): removes a matching suffix.
pub(crate) fn trim_suffix(value: &str, pattern: &str, longest: bool) -> Result<String, String> {
    let mut toks = compile(pattern)?;
    toks.reverse();
    let mut chars: Vec<char> = value.chars().collect();
    chars.reverse();
    let lens = match_lengths(&toks, &chars, 0);
    let cut = if longest { lens.last() } else { lens.first() };
    Ok(match cut {
        Some(&n) => chars[n..].iter().rev().collect(),
        None => value.to_string(),
    })
}

/// `${v/pat/repl}` (first match) and `${v//pat/repl}` (every match): the
/// leftmost, longest match is replaced; an empty match right after a previous
/// match is skipped, as in Go's regexp ReplaceAll.
pub(crate) fn replace(
    value: &str,
    pattern: &str,
    replacement: &str,
    all: bool,
) -> Result<String, String> {
    let toks = compile(pattern)?;
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    let mut last_end: Option<usize> = None;
    let mut replaced = false;
    while pos <= chars.len() {
        if !replaced || all {
            if let Some(&n) = match_lengths(&toks, &chars, pos).last() {
                if n > 0 || last_end != Some(pos) {
                    out.push_str(replacement);
                    replaced = true;
                    last_end = Some(pos + n);
                    if n > 0 {
                        pos += n;
                        continue;
                    }
                }
            }
        }
        if pos < chars.len() {
            out.push(chars[pos]);
        }
        pos += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_suffix_trimming() {
        let path = "/usr/local/bin/tool.tar.gz";
        assert_eq!(
            trim_prefix(path, "*/", false).unwrap(),
            "usr/local/bin/tool.tar.gz"
        );
        assert_eq!(trim_prefix(path, "*/", true).unwrap(), "tool.tar.gz");
        assert_eq!(
            trim_suffix(path, ".*", false).unwrap(),
            "/usr/local/bin/tool.tar"
        );
        assert_eq!(
            trim_suffix(path, ".*", true).unwrap(),
            "/usr/local/bin/tool"
        );
        assert_eq!(trim_prefix("abc", "x", false).unwrap(), "abc");
        assert_eq!(trim_prefix("abc", "?", false).unwrap(), "bc");
        assert_eq!(trim_prefix("a*c", "a\\*", false).unwrap(), "c");
        assert_eq!(trim_prefix("abc", "*", false).unwrap(), "abc");
        assert_eq!(trim_prefix("abc", "*", true).unwrap(), "");
    }

    #[test]
    fn replacement() {
        assert_eq!(replace("a-b-c", "-", "_", false).unwrap(), "a_b-c");
        assert_eq!(replace("a-b-c", "-", "_", true).unwrap(), "a_b_c");
        assert_eq!(replace("abcabc", "b*", "X", false).unwrap(), "aX");
        assert_eq!(replace("abc", "*", "X", true).unwrap(), "X");
        assert_eq!(replace("abc", "z", "X", true).unwrap(), "abc");
        assert_eq!(replace("ab", "", "-", true).unwrap(), "-a-b-");
        assert_eq!(replace("a/b", "\\/", "_", true).unwrap(), "a_b");
    }

    #[test]
    fn bad_escape_is_an_error() {
        assert_eq!(
            trim_prefix("x", "\\x", false).unwrap_err(),
            "invalid pattern (\\x) in substitution: invalid escape '\\x'"
        );
    }

    #[test]
    fn long_inputs_do_not_blow_up() {
        let value = "a".repeat(2000);
        let pattern = "*a".repeat(50) + "b";
        assert_eq!(trim_prefix(&value, &pattern, true).unwrap(), value);
    }
}
