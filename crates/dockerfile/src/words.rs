//! The parse-time word splitters Docker uses before any expansion: builder
//! flags, whitespace lists, and quote-aware `key=value` words.

/// A `--flag[=value]` word and its byte offset in the text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlagWord {
    pub text: String,
    pub offset: usize,
}

/// Splits leading `--flag` words off `line` (BuildKit's extractBuilderFlags).
/// Flags may quote parts of their value and escape with `\`; a bare `--` ends
/// the flags. Returns the flags and the byte offset where the rest starts.
pub(crate) fn extract_flags(line: &str) -> (Vec<FlagWord>, usize) {
    let mut flags = Vec::new();
    let mut chars = line.char_indices().peekable();
    loop {
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return (flags, line.len());
        };
        if !line[start..].starts_with("--") {
            return (flags, start);
        }
        let mut word = String::new();
        let mut quoted_empty = false;
        let mut quote: Option<char> = None;
        let mut end = line.len();
        while let Some((pos, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = pos;
                    break;
                }
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    quoted_empty = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    // An escape at the very end is dropped.
                    if let Some((_, n)) = chars.next() {
                        word.push(n);
                    } else {
                        quote = None;
                    }
                }
                _ => word.push(c),
            }
        }
        if word == "--" {
            return (flags, end);
        }
        if quoted_empty || !word.is_empty() {
            flags.push(FlagWord {
                text: word,
                offset: start,
            });
        }
        if end == line.len() {
            return (flags, line.len());
        }
    }
}

/// Go's `[\t\v\f\r ]+` split of trimmed text, used for whitespace lists.
pub(crate) fn split_whitespace(text: &str) -> Vec<String> {
    text.split(['\t', '\u{b}', '\u{c}', '\r', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Docker's parseWords: splits on whitespace outside quotes, keeping quotes
/// and escapes in the words (expansion removes them later).
pub(crate) fn parse_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    in_word = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    match chars.next() {
                        None => continue,
                        Some(n) => {
                            word.push(c);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    match chars.next() {
                        None => {
                            quote = None;
                            continue;
                        }
                        Some(n) => {
                            word.push(c);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(c);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(line: &str) -> (Vec<String>, &str) {
        let (f, rest) = extract_flags(line);
        (f.into_iter().map(|f| f.text).collect(), &line[rest..])
    }

    #[test]
    fn flags_stop_at_first_non_flag_word() {
        assert_eq!(
            flags("--from=a --chown=\"1 2\" src dst"),
            (vec!["--from=a".into(), "--chown=1 2".into()], "src dst")
        );
        assert_eq!(flags("src --from=a"), (vec![], "src --from=a"));
        assert_eq!(flags("--link"), (vec!["--link".into()], ""));
        assert_eq!(flags("-- --x y"), (vec![], " --x y"));
        assert_eq!(flags("--a=\\'b  c"), (vec!["--a='b".into()], "c"));
        assert_eq!(flags("-x"), (vec![], "-x"));
        assert_eq!(flags("-"), (vec![], "-"));
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        assert_eq!(
            parse_words(r#"a="b c" d='e f' g\ h "" i"#, '\\'),
            vec![r#"a="b c""#, "d='e f'", r"g\ h", r#""""#, "i"]
        );
        assert_eq!(parse_words(r#"a="x\"y" b"#, '\\'), vec![r#"a="x\"y""#, "b"]);
        assert_eq!(parse_words("a='x\\' b", '\\'), vec!["a='x\\'", "b"]);
        assert_eq!(parse_words("  ", '\\'), Vec::<String>::new());
    }

    #[test]
    fn whitespace_split() {
        assert_eq!(split_whitespace(" a \t b\r"), vec!["a", "b"]);
    }
}
