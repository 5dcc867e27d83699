//! Parser directives: `# syntax=`, `# escape=`, `# check=` comments at the very
//! top of the file. Docker stops looking for them at the first line that is not
//! a known directive (an instruction, an empty line, any other comment).

/// The directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=docker/dockerfile:1`: the frontend image BuildKit would use.
    /// berth always uses its own parser; the value is kept for reporting.
    pub syntax: Option<String>,
    /// The escape (and line-continuation) character: `\` unless `# escape=``.
    pub escape: char,
    /// `# check=skip=...;error=true`: build-check configuration.
    pub check: Option<CheckDirective>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// `# check=skip=RuleA,RuleB;error=true`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckDirective {
    /// The directive's text after `check=`.
    pub raw: String,
    /// Rule names to skip; `["all"]` skips every check.
    pub skip: Vec<String>,
    /// Whether check warnings fail the build.
    pub error: bool,
}

/// Recognises directive lines until the first line that is not one.
pub(crate) struct DirectiveParser {
    done: bool,
    pub(crate) directives: Directives,
    seen: Vec<&'static str>,
}

impl DirectiveParser {
    pub(crate) fn new() -> Self {
        DirectiveParser {
            done: false,
            directives: Directives::default(),
            seen: Vec::new(),
        }
    }

    /// Feeds one physical line with its leading whitespace removed. Returns an
    /// error message for a repeated directive or an invalid escape character.
    pub(crate) fn feed(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = split_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        let key: &'static str = match name.as_str() {
            "syntax" => "syntax",
            "escape" => "escape",
            "check" => "check",
            // Docker treats unknown directives as comments, and a comment ends
            // the directive block.
            _ => {
                self.done = true;
                return Ok(());
            }
        };
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key);
        match key {
            "syntax" => self.directives.syntax = Some(value.to_string()),
            "escape" => {
                self.directives.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(format!(
                            "invalid escape token '{}' does not match ` or \\",
                            crate::error::clip(other)
                        ))
                    }
                }
            }
            _ => self.directives.check = Some(parse_check(value)?),
        }
        Ok(())
    }
}

/// `#[ \t]*NAME[ \t]*=[ \t]*VALUE[ \t]*` with NAME `[a-zA-Z][a-zA-Z0-9]*` and a
/// non-empty VALUE.
fn split_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches([' ', '\t']);
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest[name_len..].trim_start_matches([' ', '\t']);
    let value = rest.strip_prefix('=')?.trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

fn parse_check(value: &str) -> Result<CheckDirective, String> {
    let mut check = CheckDirective {
        raw: value.to_string(),
        ..Default::default()
    };
    for part in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(format!(
                "invalid check directive part {:?}: expected key=value",
                crate::error::clip(part)
            ));
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "skip" => {
                check.skip = val
                    .split(',')
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty())
                    .collect()
            }
            "error" => {
                check.error = crate::flags::parse_go_bool(val.trim()).ok_or_else(|| {
                    format!(
                        "invalid check directive: error={:?} is not a boolean",
                        crate::error::clip(val)
                    )
                })?
            }
            other => {
                return Err(format!(
                    "invalid check directive: unknown key {:?} (expected skip or error)",
                    crate::error::clip(other)
                ))
            }
        }
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Result<Directives, String> {
        let mut p = DirectiveParser::new();
        for l in lines {
            p.feed(l.trim_start())?;
        }
        Ok(p.directives)
    }

    #[test]
    fn recognises_the_three_directives_case_insensitively() {
        let d = run(&[
            "# syntax=docker/dockerfile:1",
            "#ESCAPE = `",
            "# check=skip=JSONArgsRecommended,StageNameCasing;error=true",
            "FROM x",
        ])
        .unwrap();
        assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(d.escape, '`');
        let check = d.check.unwrap();
        assert_eq!(check.skip, ["JSONArgsRecommended", "StageNameCasing"]);
        assert!(check.error);
    }

    #[test]
    fn stops_at_unknown_directive_comment_or_empty_line() {
        assert_eq!(
            run(&["# unknowndirective=value", "# escape=`"])
                .unwrap()
                .escape,
            '\\'
        );
        assert_eq!(run(&["# a comment", "# escape=`"]).unwrap().escape, '\\');
        assert_eq!(run(&["", "# escape=`"]).unwrap().escape, '\\');
        assert_eq!(run(&["FROM x", "# escape=`"]).unwrap().escape, '\\');
    }

    #[test]
    fn rejects_duplicates_and_bad_escape() {
        assert_eq!(
            run(&["# escape=`", "# escape=\\"]).unwrap_err(),
            "only one escape parser directive can be used"
        );
        assert!(run(&["# escape=x"])
            .unwrap_err()
            .contains("invalid escape token 'x'"));
        assert!(run(&["# check=frob=1"]).is_err());
    }

    #[test]
    fn directive_shape() {
        assert_eq!(split_directive("#  escape  =  `  "), Some(("escape", "`")));
        assert_eq!(split_directive("# escape="), None);
        assert_eq!(split_directive("# 1escape=x"), None);
        assert_eq!(split_directive("# esc-ape=x"), None);
        assert_eq!(
            split_directive("#directive=value \\"),
            Some(("directive", "value \\"))
        );
    }
}
