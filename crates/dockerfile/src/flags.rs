//! Typed parsing of an instruction's `--flag` words (BuildKit's BFlags).

use crate::words::FlagWord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    Value,
    /// `--mount=...`, repeatable.
    Values,
}

/// A flag error and the byte offset of the offending flag.
pub(crate) type FlagError = (usize, String);

#[derive(Debug, Default)]
pub(crate) struct Flags {
    bools: Vec<(&'static str, bool)>,
    values: Vec<(&'static str, String, usize)>,
}

impl Flags {
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.bools.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    pub(crate) fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, _)| v.clone())
    }

    /// Every value of a repeatable flag with its offset, in order.
    pub(crate) fn values(&self, name: &str) -> Vec<(String, usize)> {
        self.values
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, v, o)| (v.clone(), *o))
            .collect()
    }

    pub(crate) fn offset(&self, name: &str) -> Option<usize> {
        self.values
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, o)| *o)
    }
}

pub(crate) fn parse(
    words: &[FlagWord],
    specs: &[(&'static str, Kind)],
    keyword: &str,
) -> Result<Flags, FlagError> {
    let mut flags = Flags::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for word in words {
        let at = word.offset;
        let Some(body) = word.text.strip_prefix("--") else {
            return Err((
                at,
                format!(
                    "flag should start with --: {}",
                    crate::error::clip(&word.text)
                ),
            ));
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(name, kind)) = specs.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = specs.iter().map(|(n, _)| *n).collect();
            let hint = if names.is_empty() {
                format!(" ({keyword} takes no flags)")
            } else {
                crate::suggest::hint(name, &names, "--")
            };
            return Err((
                at,
                format!("unknown flag: --{}{hint}", crate::error::clip(name)),
            ));
        };
        if kind != Kind::Values {
            if seen.contains(&name) {
                return Err((at, format!("duplicate flag specified: --{name}")));
            }
            seen.push(name);
        }
        match (kind, value) {
            (Kind::Bool, None) => flags.bools.push((name, true)),
            (Kind::Bool, Some("")) => {
                return Err((at, format!("missing a value on flag: --{name}")))
            }
            (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                "true" => flags.bools.push((name, true)),
                "false" => flags.bools.push((name, false)),
                _ => {
                    return Err((
                        at,
                        format!(
                            "expecting boolean value for flag --{name}, not: {}",
                            crate::error::clip(v)
                        ),
                    ))
                }
            },
            (_, None) => return Err((at, format!("missing a value on flag: --{name}"))),
            (_, Some(v)) => flags.values.push((name, v.to_string(), at)),
        }
    }
    Ok(flags)
}

/// Go's strconv.ParseBool.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(ws: &[&str]) -> Vec<FlagWord> {
        ws.iter()
            .enumerate()
            .map(|(i, w)| FlagWord {
                text: w.to_string(),
                offset: i,
            })
            .collect()
    }

    const COPY: &[(&str, Kind)] = &[
        ("from", Kind::Value),
        ("link", Kind::Bool),
        ("exclude", Kind::Values),
    ];

    #[test]
    fn typed_values() {
        let f = parse(
            &words(&["--from=a", "--link=FALSE", "--exclude=x", "--exclude=y"]),
            COPY,
            "COPY",
        )
        .unwrap();
        assert_eq!(f.value("from").as_deref(), Some("a"));
        assert_eq!(f.bool("link"), Some(false));
        assert_eq!(
            f.values("exclude"),
            vec![("x".to_string(), 2), ("y".to_string(), 3)]
        );
        assert_eq!(
            parse(&words(&["--from="]), COPY, "COPY")
                .unwrap()
                .value("from")
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn errors() {
        let e = |ws: &[&str]| parse(&words(ws), COPY, "COPY").unwrap_err();
        assert_eq!(
            e(&["--frm=a"]),
            (0, "unknown flag: --frm (did you mean --from?)".into())
        );
        assert_eq!(
            e(&["--from=a", "--from=b"]),
            (1, "duplicate flag specified: --from".into())
        );
        assert_eq!(
            e(&["--from"]),
            (0, "missing a value on flag: --from".into())
        );
        assert_eq!(
            e(&["--link="]),
            (0, "missing a value on flag: --link".into())
        );
        assert_eq!(
            e(&["--link=yes"]),
            (
                0,
                "expecting boolean value for flag --link, not: yes".into()
            )
        );
        assert_eq!(
            parse(&words(&["--x"]), &[], "WORKDIR").unwrap_err().1,
            "unknown flag: --x (WORKDIR takes no flags)"
        );
    }
}
