//! Docker's word expansion (BuildKit's shell lexer): `$a`, `${a}`, the
//! `${a:-b}` family, BuildKit's `${a#p}` `${a%p}` `${a/p/r}` forms, single
//! quotes (literal), double quotes (expanding) and the escape character.
//!
//! The builder calls [`expand_word`] for instructions taking one value
//! (WORKDIR, USER, ENV values, ...) and [`expand_words`] where a value may
//! become several words (EXPOSE `$PORTS`, ...).

mod pattern;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Where expansion looks variables up.
pub trait Variables {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Variables for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Variables for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An ordered environment (`KEY`, `value`) list; a later entry wins.
impl Variables for [(String, String)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Variables for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

impl<T: Variables + ?Sized> Variables for &T {
    fn lookup(&self, name: &str) -> Option<&str> {
        (**self).lookup(name)
    }
}

/// An environment with no variables.
pub(crate) struct NoVariables;

impl Variables for NoVariables {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Expansion failed: `${a?msg}` with `a` unset, a bad substitution, an
/// unterminated quote. `message` is Docker's text (e.g. `a: msg`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to expand {word:?}: {message}")]
pub struct ExpandError {
    /// The word being expanded (shortened if very long).
    pub word: String,
    pub message: String,
}

/// Expands `word` to one string: whitespace is kept, quotes are removed.
pub fn expand_word<V: Variables + ?Sized>(
    word: &str,
    vars: &V,
    escape: char,
) -> Result<String, ExpandError> {
    process(word, vars, Options::new(escape))
        .map(|(s, _)| s)
        .map_err(|m| error(word, m))
}

/// Expands `word` and splits it into words on unquoted whitespace, including
/// whitespace that came from an unquoted variable (`$PORTS` = `80 443` gives
/// two words). Empty words are dropped, so `""` alone yields no word.
pub fn expand_words<V: Variables + ?Sized>(
    word: &str,
    vars: &V,
    escape: char,
) -> Result<Vec<String>, ExpandError> {
    process(word, vars, Options::new(escape))
        .map(|(_, w)| w)
        .map_err(|m| error(word, m))
}

/// Expands a heredoc body whose delimiter was not quoted ([`crate::Heredoc::expand`]),
/// as BuildKit does for COPY/ADD heredoc files: variables and the escape
/// character are processed, quotes are ordinary characters.
pub fn expand_heredoc<V: Variables + ?Sized>(
    content: &str,
    vars: &V,
    escape: char,
) -> Result<String, ExpandError> {
    let opts = Options {
        skip_quotes: true,
        ..Options::new(escape)
    };
    process(content, vars, opts)
        .map(|(s, _)| s)
        .map_err(|m| error(content, m))
}

fn error(word: &str, message: String) -> ExpandError {
    ExpandError {
        word: crate::error::clip(word),
        message,
    }
}

/// Lexer switches; the parser uses the raw modes to find heredoc markers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub escape: char,
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters.
    pub skip_quotes: bool,
}

impl Options {
    pub(crate) fn new(escape: char) -> Self {
        Options {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }
}

/// Deeper `${a:-${b:-...}}` nesting than this is refused so hostile input
/// cannot exhaust the stack.
const MAX_NESTING: usize = 100;

/// Runs the lexer: the single-word result and the split words.
pub(crate) fn process<V: Variables + ?Sized>(
    word: &str,
    vars: &V,
    opts: Options,
) -> Result<(String, Vec<String>), String> {
    let mut lexer = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        vars,
        opts,
        depth: 0,
    };
    let (s, words) = lexer.stop_on(None, opts.raw_escapes)?;
    Ok((s, words.finish()))
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer<'v, V: ?Sized> {
    chars: Vec<char>,
    pos: usize,
    vars: &'v V,
    opts: Options,
    depth: usize,
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

impl<V: Variables + ?Sized> Lexer<'_, V> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.lookup(name).map(str::to_string)
    }

    /// Processes up to `stop` (consumed) or the end of input when `stop` is None.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Words), String> {
        let saved = self.opts.raw_escapes;
        self.opts.raw_escapes = raw_escapes;
        let result = self.stop_on_inner(stop);
        self.opts.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Words), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '\'' | '"' if !self.opts.skip_quotes => {
                    let value = if c == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.pos += 1;
                    if c == self.opts.escape {
                        if self.opts.raw_escapes {
                            words.add_raw_char(c);
                            result.push(c);
                        }
                        // An escape at the very end is dropped.
                        let Some(n) = self.next() else { break };
                        words.add_raw_char(n);
                        result.push(n);
                    } else {
                        words.add_char(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(s) => Err(format!(
                "unexpected end of statement while looking for matching {s}"
            )),
            None => Ok((result, words)),
        }
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if self.opts.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next();
        if self.opts.raw_quotes {
            out.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if self.opts.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.opts.escape {
                        if self.opts.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes;
                            // any other escape character stays as written.
                            Some(n) if n == '"' || n == '$' || n == self.opts.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// A variable name, a run of digits, or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(c) {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        if self.depth >= MAX_NESTING {
            return Err(format!(
                "substitutions nested deeper than {MAX_NESTING} levels"
            ));
        }
        self.depth += 1;
        let result = self.braced();
        self.depth -= 1;
        result
    }

    /// The rest of `${name...}` after `${`.
    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        let Some(c) = self.next() else {
            return Err("syntax error: missing '}'".into());
        };
        match c {
            '}' => Ok(match self.lookup(&name) {
                Some(v) => v,
                None if self.opts.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let (modifier, null_is_unset) = if c == ':' {
                    match self.next() {
                        Some(m) => (m, true),
                        None => return Err("syntax error: missing '}'".into()),
                    }
                } else {
                    (c, false)
                };
                let shown = if null_is_unset {
                    format!(":{modifier}")
                } else {
                    modifier.to_string()
                };
                let pattern_mode = modifier == '#' || modifier == '%';
                if null_is_unset && !matches!(modifier, '-' | '+' | '?') {
                    return Err(format!("unsupported modifier ({shown}) in substitution"));
                }
                let word = self.argument('}', pattern_mode, "syntax error: missing '}'")?;
                let value = self.lookup(&name);
                if self.opts.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{shown}{word}}}"));
                }
                let unset = value.is_none() || null_is_unset && value.as_deref() == Some("");
                match modifier {
                    '-' => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if unset { String::new() } else { word }),
                    '?' => match value {
                        None => Err(format!(
                            "{name}: {}",
                            or(word, "is not allowed to be unset")
                        )),
                        Some(v) if null_is_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            or(word, "is not allowed to be empty")
                        )),
                        Some(v) => Ok(v),
                    },
                    _ => {
                        let value = value.unwrap_or_default();
                        let (longest, pat) = match word.strip_prefix(modifier) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        if modifier == '%' {
                            pattern::trim_suffix(&value, pat, longest)
                        } else {
                            pattern::trim_prefix(&value, pat, longest)
                        }
                    }
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pat = self.argument('/', true, "syntax error: missing '/' in ${}")?;
                let replacement = self.argument('}', true, "syntax error: missing '}'")?;
                match self.lookup(&name) {
                    None if self.opts.skip_unset => Ok(format!(
                        "${{{name}/{}{pat}/{replacement}}}",
                        if all { "/" } else { "" }
                    )),
                    value => pattern::replace(&value.unwrap_or_default(), &pat, &replacement, all),
                }
            }
            other => Err(format!("unsupported modifier ({other}) in substitution")),
        }
    }

    /// A modifier's word up to `stop`; running out of input is reported as
    /// `at_end`.
    fn argument(&mut self, stop: char, raw_escapes: bool, at_end: &str) -> Result<String, String> {
        match self.stop_on(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(e) if e.starts_with("substitutions nested") => Err(e),
            Err(_) if self.peek().is_none() => Err(at_end.to_string()),
            Err(e) => Err(e),
        }
    }
}

fn or(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_string()
    } else {
        word
    }
}

#[cfg(test)]
mod tests;
