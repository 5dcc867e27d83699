//! `.dockerignore` (and COPY `--exclude`) with Docker's semantics, which are not
//! gitignore's:
//!
//! - Reading a file ([`Ignore::parse`]): a line whose first byte is `#` is a
//!   comment (before trimming, so ` #x` is a pattern); lines are trimmed; a leading
//!   `!` makes an exception; the rest is cleaned like Go's `filepath.Clean` and a
//!   leading `/` is dropped: every pattern is anchored at the context root.
//! - Patterns are Go `filepath.Match` syntax (`*`, `?`, `[...]` with `^` negation,
//!   `\` escapes) plus `**`, which matches any number of directories (`**/` may
//!   match nothing; a trailing `**` matches everything below).
//! - A path is excluded when the *last* pattern that matches it, or matches one
//!   of its parent directories, is not an exception.
//! - A directory that is excluded is still walked when an exception could match
//!   something below it ([`Ignore::may_include_below`]).
//!
//! Docker compiles patterns to regular expressions; this module matches the same
//! language directly (see `pattern.rs`). Two deliberate differences, both where
//! Docker's own fast paths disagree with its regexp: an escaped pattern without
//! wildcards (`a\*b`) matches the file `a*b` (as the regexp does), and a negated
//! class never matches '/' (`[^a]` in a `.dockerignore` only ever matched '/' in a
//! way no user intends).
//!
//! The Dockerfile and the ignore file themselves may be excluded: the builder
//! still reads them (see `context`), but COPY cannot see them, as with Docker.

use crate::error::{BuildError, Result};
use crate::pattern::{self, Tok};

/// How one pattern is matched; the cheap forms mirror Docker's own fast paths.
#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the path equals the (unescaped) pattern.
    Exact(String),
    /// `dir/**` or `pre**`: the path starts with the text before `**`.
    Prefix(String),
    /// `**/name`: the path ends with `/name` or is `name`.
    Suffix(String),
    Tokens(Vec<Tok>),
}

/// One parsed pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exception: bool,
    kind: Kind,
    /// Per-'/'-component tokens, for deciding whether to descend into a directory.
    components: Vec<Vec<Tok>>,
}

impl Pattern {
    /// The cleaned pattern without its `!`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Was it written with a leading `!`?
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    fn compile(raw: &str, origin: &str) -> Result<Pattern> {
        let bad = |why: String| BuildError::BadPattern {
            origin: origin.to_string(),
            pattern: raw.to_string(),
            why,
        };
        let (exception, text) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest.to_string()),
            None => (false, raw.to_string()),
        };
        if text.is_empty() {
            return Err(bad("an exception '!' needs a pattern after it".into()));
        }
        // Syntax check as Docker does: Go's Match on the whole pattern.
        pattern::parse_go(&text).map_err(&bad)?;
        let kind = compile_kind(&text).map_err(&bad)?;
        let components = text
            .split('/')
            .map(|c| {
                if c.contains("**") {
                    Ok(vec![Tok::AnyAll])
                } else {
                    pattern::parse_go(c)
                }
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(&bad)?;
        Ok(Pattern {
            text,
            exception,
            kind,
            components,
        })
    }

    /// Does the pattern match `path` itself ('/'-separated, relative, cleaned)?
    pub fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact(p) => path == p,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            Kind::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Tokens(t) => pattern::matches(t, path),
        }
    }

    /// Could the pattern match `dir` or anything below it? Checked component by
    /// component; a `**` component could match anything.
    fn may_match_below(&self, dir: &str) -> bool {
        for (i, comp) in dir.split('/').enumerate() {
            let Some(p) = self.components.get(i) else {
                // The pattern matched a parent of (or) `dir`: it covers all of it.
                return true;
            };
            if p.as_slice() == [Tok::AnyAll] {
                return true;
            }
            if !pattern::matches(p, comp) {
                return false;
            }
        }
        true
    }
}

/// Docker's pattern compiler, reproduced for its classification: which fast path
/// a pattern takes decides edge cases like `**foo` (a suffix match).
fn compile_kind(text: &str) -> std::result::Result<Kind, String> {
    #[derive(PartialEq)]
    enum M {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut literal = String::new();
    let mut m = M::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        let at_start = first;
        first = false;
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if m == M::Exact {
                        m = M::Prefix;
                    } else {
                        toks.push(Tok::AnyAll);
                        m = M::Regexp;
                    }
                } else {
                    toks.extend([Tok::Skip(3), Tok::AnyAll, Tok::Lit('/')]);
                    m = M::Regexp;
                }
                if at_start {
                    m = M::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                m = M::Regexp;
                i += 1;
            }
            '?' => {
                toks.push(Tok::Quest);
                m = M::Regexp;
                i += 1;
            }
            '[' => {
                let (class, next) = pattern::parse_class(&chars, i)?;
                toks.push(Tok::Class(class));
                m = M::Regexp;
                i = next;
            }
            '\\' => {
                let lit = chars.get(i + 1).copied().unwrap_or('\\');
                toks.push(Tok::Lit(lit));
                literal.push(lit);
                i += 2;
            }
            c => {
                toks.push(Tok::Lit(c));
                literal.push(c);
                i += 1;
            }
        }
    }
    Ok(match m {
        M::Exact => Kind::Exact(literal),
        M::Prefix => Kind::Prefix(text[..text.len() - 2].to_string()),
        M::Suffix => Kind::Suffix(text[2..].to_string()),
        M::Regexp => Kind::Tokens(toks),
    })
}

/// A parsed `.dockerignore` (or set of `--exclude` patterns).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
    exceptions: bool,
}

impl Ignore {
    /// Nothing excluded.
    pub fn empty() -> Ignore {
        Ignore::default()
    }

    /// Parse the text of a `.dockerignore`; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Ignore> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (bang, rest) = match line.strip_prefix('!') {
                Some(r) => ("!", r.trim()),
                None => ("", line),
            };
            let mut p = if rest.is_empty() {
                String::new()
            } else {
                pattern::clean(rest)
            };
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
            lines.push(format!("{bang}{p}"));
        }
        Ignore::from_patterns(lines.iter().map(String::as_str), origin)
    }

    /// Patterns as Docker's pattern matcher takes them (COPY `--exclude`): each is
    /// trimmed and cleaned, `!` makes an exception, but a leading '/' is kept.
    pub fn from_patterns<'a>(
        patterns: impl IntoIterator<Item = &'a str>,
        origin: &str,
    ) -> Result<Ignore> {
        let mut out = Ignore::default();
        for raw in patterns {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let cleaned = match raw.strip_prefix('!') {
                Some("") => "!".to_string(),
                Some(rest) => format!("!{}", pattern::clean(rest)),
                None => pattern::clean(raw),
            };
            let p = Pattern::compile(&cleaned, origin)?;
            out.exceptions |= p.exception;
            out.patterns.push(p);
        }
        Ok(out)
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Are there `!` patterns (so excluded directories may still need walking)?
    pub fn has_exceptions(&self) -> bool {
        self.exceptions
    }

    /// Is `path` (relative to the context root, '/'-separated; cleaned here)
    /// excluded? The last pattern matching the path or one of its parents wins.
    pub fn is_excluded(&self, path: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        let path = pattern::clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut excluded = false;
        for p in &self.patterns {
            // Only a pattern that could flip the answer needs evaluating.
            if p.exception != excluded {
                continue;
            }
            if p.matches(&path) || parents.iter().any(|d| p.matches(d)) {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// For an excluded directory: could an exception re-include something below
    /// it, so that a walker must descend? (`false` lets the walker skip it.)
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = pattern::clean(dir.trim_start_matches('/'));
        self.exceptions
            && self
                .patterns
                .iter()
                .any(|p| p.exception && p.may_match_below(&dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text, ".dockerignore").unwrap()
    }

    fn check(text: &str, cases: &[(&str, bool)]) {
        let i = ig(text);
        for (path, want) in cases {
            assert_eq!(i.is_excluded(path), *want, "{text:?} on {path:?}");
        }
    }

    #[test]
    fn documented_examples() {
        // The examples of Docker's .dockerignore documentation.
        check(
            "# comment\n*/temp*\n*/*/temp*\ntemp?\n",
            &[
                ("somedir/temporary.txt", true),
                ("somedir/temp", true),
                ("somedir/temp/x", true),
                ("temporary.txt", false),
                ("somedir/subdir/temporary.txt", true),
                ("a/b/c/temporary.txt", false),
                ("tempa", true),
                ("tempab", false),
                ("temp", false),
                ("comment", false),
            ],
        );
        check(
            "**/*.go\n",
            &[
                ("main.go", true),
                ("a/b/c/main.go", true),
                ("a/main.goo", false),
                ("vendor/x.go/keep", true),
            ],
        );
        check(
            "*.md\n!README*.md\nREADME-secret.md\n",
            &[
                ("CHANGES.md", true),
                ("README.md", false),
                ("README-public.md", false),
                ("README-secret.md", true),
                ("docs/CHANGES.md", false),
            ],
        );
        check(
            "*.md\nREADME-secret.md\n!README*.md\n",
            &[("README-secret.md", false), ("CHANGES.md", true)],
        );
    }

    #[test]
    fn line_handling() {
        let i = ig("\u{feff}  /abs/path  \n #notacomment\n!  ./spaced/../keep \n\n./a//b/\n");
        let texts: Vec<_> = i
            .patterns()
            .iter()
            .map(|p| (p.is_exception(), p.text().to_string()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (false, "abs/path".into()),
                (false, "#notacomment".into()),
                (true, "keep".into()),
                (false, "a/b".into()),
            ]
        );
        assert!(Ignore::parse("!\n", "x").is_err());
        assert!(Ignore::parse("[abc\n", "x").is_err());
        assert!(Ignore::parse("bad\\\n", "x").is_err());
    }

    #[test]
    fn parent_directories_and_double_star() {
        check(
            "node_modules\n",
            &[
                ("node_modules", true),
                ("node_modules/x/y.js", true),
                ("src/node_modules", false),
            ],
        );
        check(
            "**/node_modules\n",
            &[
                ("node_modules/a", true),
                ("src/node_modules/a", true),
                ("node_modulesx", false),
            ],
        );
        check("a/**\n", &[("a/b", true), ("a/b/c", true), ("ab", false)]);
        check(
            "**\n!keep\n",
            &[
                ("x", true),
                ("keep", false),
                ("keep/in", false),
                ("a/keep", true),
            ],
        );
        check(
            "a/**/b\n",
            &[("a/b", true), ("a/x/y/b", true), ("a/x/y/bb", false)],
        );
        check(
            "*/**/x?\n",
            &[("d/x1", true), ("d/e/f/x2", true), ("x1", false)],
        );
        check(
            ".*\n",
            &[(".git", true), (".git/HEAD", true), ("a/.hidden", false)],
        );
        check(
            "*\n!src\nsrc/*.tmp\n",
            &[("src/a.rs", false), ("src/b.tmp", true), ("other", true)],
        );
        check("a\\*b\n", &[("a*b", true), ("axb", false)]);
        check("[^a]x\n", &[("bx", true), ("ax", false)]);
        check("[!a]x\n", &[("!x", true), ("bx", false)]);
        check("dir/\n", &[("dir/f", true), ("dir", true)]);
    }

    #[test]
    fn edge_cases() {
        // `**` alone excludes everything; `**x` is Docker's suffix fast path.
        check("**\n", &[("a", true), ("a/b/c", true)]);
        check(
            "**.txt\n",
            &[("a.txt", true), ("d/e.txt", true), ("txt", false)],
        );
        // CRLF files, trailing blanks, patterns climbing out of the context.
        check("a.txt \r\n\r\n../b\n", &[("a.txt", true), ("b", false)]);
        // Exceptions and re-exclusions in order; the last match wins.
        check(
            "docs\n!docs/*.md\ndocs/secret.md\n",
            &[
                ("docs/a.md", false),
                ("docs/secret.md", true),
                ("docs/a.txt", true),
            ],
        );
        // An exception for a parent re-includes its whole subtree.
        check("*\n!keep\n", &[("keep/deep/x", false), ("other/x", true)]);
        // Matching is on whole components: no partial prefixes.
        check(
            "foo\n",
            &[("foobar", false), ("foo/bar", true), ("bar/foo", false)],
        );
        // Classes, ranges and escapes.
        check(
            "file[0-9].txt\nlit\\?\n",
            &[
                ("file7.txt", true),
                ("filex.txt", false),
                ("lit?", true),
                ("lita", false),
            ],
        );
        assert!(ig("").is_empty());
        assert!(!ig("# only a comment\n").has_exceptions());
    }

    #[test]
    fn descending_into_excluded_directories() {
        let i = ig("build\n!build/keep.txt\nvendor\n!**/LICENSE\ntmp\n!tmp*/x/*.rs\n");
        assert!(i.is_excluded("build"));
        assert!(i.may_include_below("build"));
        assert!(!i.is_excluded("build/keep.txt"));
        assert!(i.is_excluded("build/other.txt"));
        assert!(i.may_include_below("vendor/deep/dir"));
        assert!(!i.is_excluded("vendor/deep/dir/LICENSE"));
        assert!(i.may_include_below("tmp/x"));
        assert!(!i.is_excluded("tmp/x/a.rs"));
        let j = ig("build\n!build/keep.txt\n");
        assert!(!j.may_include_below("other"));
        assert!(!j.may_include_below("build/sub"));
        assert!(!ig("build\n").may_include_below("build"));
    }

    #[test]
    fn exclude_flags_keep_leading_slash_semantics() {
        let i = Ignore::from_patterns(["*.txt", "!keep.txt"], "--exclude").unwrap();
        assert!(i.is_excluded("a.txt"));
        assert!(!i.is_excluded("keep.txt"));
        assert!(!i.is_excluded("d/a.txt"));
        assert!(Ignore::from_patterns(["!"], "--exclude").is_err());
    }
}
