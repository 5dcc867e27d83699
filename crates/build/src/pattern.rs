//! The wildcard language shared by `.dockerignore`, `--exclude` and COPY sources:
//! Go's `filepath.Match` (`*` and `?` never match '/', `[...]` classes with `^`
//! negation and `a-z` ranges, `\` escapes the next character) plus the two
//! `.dockerignore` extensions `(.*/)?` and `.*` that `**` compiles to.
//!
//! Matching simulates the pattern as an NFA over the name's characters, so no
//! pattern can take exponential time (a `*a*a*a*b` against a long name would with
//! plain backtracking).

/// A character class: `[a-z_]`, `[^0-9]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != self.negated
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    /// `*`: any run of characters other than '/'.
    Star,
    /// `?`: one character other than '/'.
    Quest,
    /// `[...]`: one character in (or, negated, not in) the class. Like Go's
    /// `filepath.Match` (and Docker's regexp), a class can match '/'.
    Class(Class),
    /// Matches nothing itself: the pattern may go on at the next token or
    /// `n` tokens ahead. `**/` in a `.dockerignore` is `(.*/)?`, compiled to
    /// `[Skip(3), AnyAll, Lit('/')]`.
    Skip(usize),
    /// `.*`: any run of characters, '/' included.
    AnyAll,
}

/// Reads one class item (a character, `\`-escaped or not) at `chars[i]`.
fn class_char(chars: &[char], i: usize) -> Result<(char, usize), String> {
    match chars.get(i) {
        None => Err("unterminated character class '['".into()),
        Some('-') | Some(']') => {
            Err("'-' or ']' where a class item was expected (escape it with '\\')".into())
        }
        Some('\\') => match chars.get(i + 1) {
            Some(&c) => Ok((c, i + 2)),
            None => Err("unterminated character class '['".into()),
        },
        Some(&c) => Ok((c, i + 1)),
    }
}

/// Parses the class whose '[' is at `chars[start]`; returns it and the index after ']'.
pub(crate) fn parse_class(chars: &[char], start: usize) -> Result<(Class, usize), String> {
    let mut i = start + 1;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Class { negated, ranges }, i + 1));
        }
        let (lo, next) = class_char(chars, i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = class_char(chars, i + 1)?;
            if h < lo {
                return Err(format!("character range {lo}-{h} is reversed"));
            }
            hi = h;
            i = next;
        }
        ranges.push((lo, hi));
    }
}

/// Go `filepath.Match` syntax to tokens; `Err` is the reason the pattern is bad
/// (unterminated class, trailing '\', reversed range).
pub(crate) fn parse_go(pattern: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                if toks.last() != Some(&Tok::Star) {
                    toks.push(Tok::Star);
                }
                i += 1;
            }
            '?' => {
                toks.push(Tok::Quest);
                i += 1;
            }
            '[' => {
                let (class, next) = parse_class(&chars, i)?;
                toks.push(Tok::Class(class));
                i = next;
            }
            '\\' => match chars.get(i + 1) {
                Some(&c) => {
                    toks.push(Tok::Lit(c));
                    i += 2;
                }
                None => return Err("trailing '\\' escapes nothing".into()),
            },
            c => {
                toks.push(Tok::Lit(c));
                i += 1;
            }
        }
    }
    Ok(toks)
}

/// Does `name` match `toks` as a whole?
pub(crate) fn matches(toks: &[Tok], name: &str) -> bool {
    let n = toks.len();
    let mut cur = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    cur[0] = true;
    close(toks, &mut cur);
    for c in name.chars() {
        next.iter_mut().for_each(|s| *s = false);
        let mut any = false;
        for i in 0..n {
            if !cur[i] {
                continue;
            }
            let (stay, advance) = match &toks[i] {
                Tok::Lit(x) => (false, *x == c),
                Tok::Quest => (false, c != '/'),
                Tok::Class(cl) => (false, cl.matches(c)),
                Tok::Star => (c != '/', false),
                Tok::AnyAll => (true, false),
                Tok::Skip(_) => (false, false),
            };
            if stay {
                next[i] = true;
                any = true;
            }
            if advance {
                next[i + 1] = true;
                any = true;
            }
        }
        if !any {
            return false;
        }
        close(toks, &mut next);
        std::mem::swap(&mut cur, &mut next);
    }
    cur[n]
}

/// Epsilon closure: star-like tokens may match nothing, `Skip` jumps ahead.
/// Every jump goes forward, so one pass in order is enough.
fn close(toks: &[Tok], states: &mut [bool]) {
    for i in 0..toks.len() {
        if !states[i] {
            continue;
        }
        match toks[i] {
            Tok::Star | Tok::AnyAll => states[i + 1] = true,
            Tok::Skip(n) => {
                states[i + 1] = true;
                states[(i + n).min(toks.len())] = true;
            }
            _ => {}
        }
    }
}

/// Go's `filepath.Match(pattern, name)` on Unix.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, String> {
    Ok(matches(&parse_go(pattern)?, name))
}

/// Does `s` contain an unescaped `*`, `?` or `[` (a COPY source that needs
/// expanding rather than a literal path)?
pub fn has_wildcards(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Removes `\` escapes from a pattern without wildcards.
pub(crate) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `filepath.Clean` for '/'-separated paths: collapse '//', drop '.',
/// apply '..' lexically (clamped at the root for absolute paths), "" becomes ".".
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_match_cases() {
        // Cases from Go's own filepath.Match documentation and tests.
        let ok = |p: &str, n: &str| go_match(p, n).unwrap();
        assert!(ok("abc", "abc"));
        assert!(ok("*", "abc"));
        assert!(ok("*c", "abc"));
        assert!(!ok("a*", "ab/c"));
        assert!(ok("a*/b", "abc/b"));
        assert!(!ok("a*/b", "a/c/b"));
        assert!(ok("a*b*c*d*e*/f", "axbxcxdxe/f"));
        assert!(ok("a*b*c*d*e*/f", "axbxcxdxexxx/f"));
        assert!(!ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f"));
        assert!(!ok("a*b?c*x", "abxbbxdbxebxczzy"));
        assert!(ok("ab[c]", "abc"));
        assert!(ok("ab[b-d]", "abc"));
        assert!(!ok("ab[e-g]", "abc"));
        assert!(!ok("ab[^c]", "abc"));
        assert!(!ok("ab[^b-d]", "abc"));
        assert!(ok("ab[^e-g]", "abc"));
        assert!(ok("a\\*b", "a*b"));
        assert!(!ok("a\\*b", "ab"));
        assert!(ok("a?b", "a☺b"));
        assert!(ok("a[^a]b", "a☺b"));
        assert!(!ok("a???b", "a☺b"));
        assert!(ok("[\\-]", "-"));
        assert!(ok("[x\\-]", "x"));
        assert!(ok("[\\-x]", "-"));
        assert!(!ok("[x\\-]", "z"));
        assert!(go_match("[a-b-d]", "a").is_err());
        assert!(!ok("a?b", "a/b"));
        assert!(!ok("a*b", "a/b"));
        // Only '^' negates in Go; '!' is an ordinary class member.
        assert!(ok("[!a]", "!"));
        assert!(!ok("[!a]", "b"));
        assert!(ok("*x", "xxx"));
        assert!(ok("[日本]", "本"));
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "[", "[^", "[^bc", "a[", "ab[]c", "[]a]", "[-]", "[x-]", "[-x]", "\\", "a\\", "[a-\\",
            "[z-a]",
        ] {
            assert!(go_match(p, "a").is_err(), "{p:?} should be bad");
        }
    }

    #[test]
    fn pathological_patterns_are_linear() {
        let name = "a".repeat(5000);
        assert!(!go_match("*a*a*a*a*a*a*a*a*a*a*b", &name).unwrap());
    }

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("", "."),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("a//b/./c/", "a/b/c"),
            ("/", "/"),
            ("./a", "a"),
            ("../../x", "../../x"),
            ("a/b/../../../c", "../c"),
        ] {
            assert_eq!(clean(i), o, "clean({i:?})");
        }
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(has_wildcards("a/*.txt"));
        assert!(has_wildcards("a[bc]"));
        assert!(!has_wildcards("a\\*b"));
        assert!(!has_wildcards("plain/path"));
        assert_eq!(unescape("a\\*b\\\\"), "a*b\\");
    }
}
