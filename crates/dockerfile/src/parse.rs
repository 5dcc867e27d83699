//! One logical line to a typed instruction.

use crate::error::{clip, Failure};
use crate::flags::{self, Kind};
use crate::heredoc;
use crate::instruction::*;
use crate::json::{self, JsonArgs};
use crate::reader::{LogicalLine, Reader};
use crate::words::{extract_flags, parse_words, split_whitespace, FlagWord};

/// A parsed line: FROM starts a stage, everything else belongs to one.
#[derive(Debug)]
pub(crate) enum Parsed {
    From {
        location: Location,
        original: String,
        base: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Instruction(Instruction),
}

/// Stage names Docker accepts (after lower-casing).
pub(crate) fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

const MIN_HEALTHCHECK_DURATION: std::time::Duration = std::time::Duration::from_millis(1);

struct Ctx<'a> {
    line: &'a LogicalLine,
    keyword: Keyword,
    /// Byte offset of the keyword in `line.text`.
    start: usize,
}

impl Ctx<'_> {
    fn fail_at(&self, offset: usize, message: impl Into<String>) -> Failure {
        let (line, column) = self.line.position(offset);
        Failure::new(line, column, message)
    }

    fn fail(&self, message: impl Into<String>) -> Failure {
        self.fail_at(self.start, message)
    }

    fn flags(
        &self,
        words: &[FlagWord],
        specs: &[(&'static str, Kind)],
    ) -> Result<flags::Flags, Failure> {
        flags::parse(words, specs, self.keyword.as_str()).map_err(|(at, m)| self.fail_at(at, m))
    }

    fn at_least_one(&self) -> Failure {
        self.fail(format!("{} requires at least one argument", self.keyword))
    }

    fn exactly_one(&self) -> Failure {
        self.fail(format!("{} requires exactly one argument", self.keyword))
    }
}

/// Parses the instruction starting at byte `start` of `line`. Heredoc bodies
/// are read from `reader`; without one (an ONBUILD trigger) there are none.
pub(crate) fn parse_line(
    line: &LogicalLine,
    start: usize,
    reader: Option<&mut Reader<'_>>,
) -> Result<Parsed, Failure> {
    let text = &line.text[start..];
    let lead = text.len() - text.trim_start().len();
    let kw_start = start + lead;
    let body = &line.text[kw_start..];
    let kw_len = body
        .find(['\t', '\u{b}', '\u{c}', '\r', ' '])
        .unwrap_or(body.len());
    let word = &body[..kw_len];
    if word.is_empty() {
        let (l, c) = line.position(kw_start);
        return Err(Failure::new(
            l,
            c,
            "expected an instruction after the line continuation",
        ));
    }
    let Some(keyword) = Keyword::parse(word) else {
        let (l, c) = line.position(kw_start);
        let names: Vec<&str> = Keyword::ALL.iter().map(|k| k.as_str()).collect();
        return Err(Failure::new(
            l,
            c,
            format!(
                "unknown instruction: {}{}",
                clip(&word.to_uppercase()),
                crate::suggest::hint(word, &names, "")
            ),
        ));
    };
    let ctx = Ctx {
        line,
        keyword,
        start: kw_start,
    };
    let rest_start = kw_start + kw_len;
    let (flag_words, args_at) = extract_flags(&line.text[rest_start..]);
    let flag_words: Vec<FlagWord> = flag_words
        .into_iter()
        .map(|f| FlagWord {
            offset: f.offset + rest_start,
            ..f
        })
        .collect();
    let args = line.text[rest_start + args_at..].trim();
    let original = line.text[kw_start..].trim_end().to_string();
    let (l, c) = line.position(kw_start);
    let mut location = Location {
        line: l,
        column: c,
        end_line: line.end_line,
    };

    // JSON form never carries heredocs, exactly as in BuildKit.
    let mut heredocs = Vec::new();
    if let Some(reader) = reader {
        let json_form = matches!(json::parse(args), JsonArgs::Array(_));
        if keyword.accepts_heredocs() && !json_form && body.contains("<<") {
            for mut doc in heredoc::markers(body).map_err(|m| ctx.fail(m))? {
                let content = reader.heredoc_body(&doc.name, doc.chomp).ok_or_else(|| {
                    ctx.fail(format!(
                        "unterminated heredoc {}: no line {:?} ends it",
                        clip(&doc.name),
                        clip(&doc.name)
                    ))
                })?;
                doc.content = if doc.chomp {
                    heredoc::chomp(&content)
                } else {
                    content
                };
                heredocs.push(doc);
            }
            location.end_line = location.end_line.max(reader.current_line());
        }
    }

    let no_flags = |ctx: &Ctx<'_>| ctx.flags(&flag_words, &[]).map(|_| ());
    let kind = match keyword {
        Keyword::From => {
            let flags = ctx.flags(&flag_words, &[("platform", Kind::Value)])?;
            let words = split_whitespace(args);
            let (base, name) = match words.as_slice() {
                [base] => (base.clone(), None),
                [base, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(ctx.fail(format!(
                            "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                            clip(&name)
                        )));
                    }
                    (base.clone(), Some(name))
                }
                _ => {
                    return Err(ctx.fail(
                        "FROM requires either one or three arguments (FROM image [AS name])",
                    ))
                }
            };
            return Ok(Parsed::From {
                location,
                original,
                base,
                name,
                platform: flags.value("platform"),
            });
        }
        Keyword::Run => {
            let flags = ctx.flags(
                &flag_words,
                &[
                    ("mount", Kind::Values),
                    ("network", Kind::Value),
                    ("security", Kind::Value),
                ],
            )?;
            let command = command_line(&ctx, args)?;
            if args.is_empty() {
                return Err(ctx.at_least_one());
            }
            let mut mounts = Vec::new();
            for (spec, at) in flags.values("mount") {
                mounts.push(
                    crate::mount::parse_mount(&spec).map_err(|e| ctx.fail_at(at, e.to_string()))?,
                );
            }
            let network = match flags.value("network") {
                None => None,
                Some(v) => Some(match v.as_str() {
                    "default" => NetworkMode::Default,
                    "none" => NetworkMode::None,
                    "host" => NetworkMode::Host,
                    _ => {
                        return Err(ctx.fail_at(
                            flags.offset("network").unwrap_or(kw_start),
                            format!(
                                "unsupported network mode {:?} (expected default, none or host)",
                                clip(&v)
                            ),
                        ))
                    }
                }),
            };
            let security = match flags.value("security") {
                None => None,
                Some(v) => Some(match v.as_str() {
                    "sandbox" => SecurityMode::Sandbox,
                    "insecure" => SecurityMode::Insecure,
                    _ => {
                        return Err(ctx.fail_at(
                            flags.offset("security").unwrap_or(kw_start),
                            format!(
                                "unsupported security mode {:?} (expected sandbox or insecure)",
                                clip(&v)
                            ),
                        ))
                    }
                }),
            };
            InstructionKind::Run(Run {
                command,
                heredocs,
                mounts,
                network,
                security,
            })
        }
        Keyword::Cmd => {
            no_flags(&ctx)?;
            InstructionKind::Cmd(command_line(&ctx, args)?)
        }
        Keyword::Entrypoint => {
            no_flags(&ctx)?;
            InstructionKind::Entrypoint(command_line(&ctx, args)?)
        }
        Keyword::Shell => {
            no_flags(&ctx)?;
            match json::parse(args) {
                _ if args.is_empty() => return Err(ctx.at_least_one()),
                JsonArgs::Array(a) if a.is_empty() => return Err(ctx.at_least_one()),
                JsonArgs::Array(a) => InstructionKind::Shell(a),
                JsonArgs::NotStrings => return Err(ctx.fail(json::NOT_STRINGS)),
                JsonArgs::NotJson => {
                    return Err(ctx.fail("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]"))
                }
            }
        }
        Keyword::Copy | Keyword::Add => {
            let add = keyword == Keyword::Add;
            let specs: &[(&'static str, Kind)] = if add {
                &[
                    ("chown", Kind::Value),
                    ("chmod", Kind::Value),
                    ("link", Kind::Bool),
                    ("exclude", Kind::Values),
                    ("checksum", Kind::Value),
                    ("keep-git-dir", Kind::Bool),
                    ("unpack", Kind::Bool),
                ]
            } else {
                &[
                    ("from", Kind::Value),
                    ("chown", Kind::Value),
                    ("chmod", Kind::Value),
                    ("link", Kind::Bool),
                    ("exclude", Kind::Values),
                    ("parents", Kind::Bool),
                ]
            };
            let flags = ctx.flags(&flag_words, specs)?;
            let transfer = transfer(&ctx, args, heredocs, &flags)?;
            if add {
                InstructionKind::Add(Add {
                    transfer,
                    checksum: flags.value("checksum"),
                    keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
                    unpack: flags.bool("unpack"),
                })
            } else {
                InstructionKind::Copy(Copy {
                    transfer,
                    from: flags.value("from"),
                    parents: flags.bool("parents").unwrap_or(false),
                })
            }
        }
        Keyword::Workdir | Keyword::User | Keyword::StopSignal | Keyword::Maintainer => {
            no_flags(&ctx)?;
            if args.is_empty() {
                return Err(ctx.exactly_one());
            }
            let value = args.to_string();
            match keyword {
                Keyword::Workdir => InstructionKind::Workdir(value),
                Keyword::User => InstructionKind::User(value),
                Keyword::StopSignal => InstructionKind::StopSignal(value),
                _ => InstructionKind::Maintainer(value),
            }
        }
        Keyword::Env | Keyword::Label => {
            no_flags(&ctx)?;
            let pairs = name_values(&ctx, args, line.escape)?;
            if keyword == Keyword::Env {
                InstructionKind::Env(pairs)
            } else {
                InstructionKind::Label(pairs)
            }
        }
        Keyword::Arg => {
            no_flags(&ctx)?;
            let mut decls = Vec::new();
            for word in parse_words(args, line.escape) {
                let decl = match word.split_once('=') {
                    Some(("", _)) => return Err(ctx.fail("ARG names can not be blank")),
                    Some((name, value)) => ArgDecl {
                        name: name.to_string(),
                        default: Some(value.to_string()),
                    },
                    None => ArgDecl {
                        name: word,
                        default: None,
                    },
                };
                decls.push(decl);
            }
            if decls.is_empty() {
                return Err(ctx.at_least_one());
            }
            InstructionKind::Arg(decls)
        }
        Keyword::Expose => {
            no_flags(&ctx)?;
            let ports = split_whitespace(args);
            if ports.is_empty() {
                return Err(ctx.at_least_one());
            }
            InstructionKind::Expose(ports)
        }
        Keyword::Volume => {
            no_flags(&ctx)?;
            let paths = list(&ctx, args)?.0;
            if paths.is_empty() {
                return Err(ctx.at_least_one());
            }
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err(ctx.fail("VOLUME specified can not be an empty string"));
            }
            InstructionKind::Volume(paths)
        }
        Keyword::Healthcheck => InstructionKind::Healthcheck(healthcheck(&ctx, args, &flag_words)?),
        Keyword::Onbuild => {
            no_flags(&ctx)?;
            if args.is_empty() {
                return Err(ctx.at_least_one());
            }
            let inner_start =
                line.text.len() - line.text[rest_start + args_at..].trim_start().len();
            let trigger_word = args
                .split([' ', '\t'])
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match trigger_word.as_str() {
                "ONBUILD" => {
                    return Err(ctx.fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(ctx.fail(format!(
                        "{trigger_word} isn't allowed as an ONBUILD trigger"
                    )))
                }
                _ => {}
            }
            let Parsed::Instruction(trigger) = parse_line(line, inner_start, None)? else {
                return Err(ctx.fail("FROM isn't allowed as an ONBUILD trigger"));
            };
            InstructionKind::Onbuild(Onbuild {
                expression: trigger.original.clone(),
                trigger: Box::new(trigger),
            })
        }
    };
    Ok(Parsed::Instruction(Instruction {
        location,
        original,
        kind,
    }))
}

/// RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD: JSON if it parses as a JSON
/// string array, otherwise the shell form.
fn command_line(ctx: &Ctx<'_>, args: &str) -> Result<CommandLine, Failure> {
    if args.is_empty() {
        return Ok(CommandLine::Shell(String::new()));
    }
    match json::parse(args) {
        JsonArgs::Array(a) => Ok(CommandLine::Exec(a)),
        JsonArgs::NotStrings => Err(ctx.fail(json::NOT_STRINGS)),
        JsonArgs::NotJson => Ok(CommandLine::Shell(args.to_string())),
    }
}

/// COPY, ADD and VOLUME: a JSON array, or whitespace-separated words.
fn list(ctx: &Ctx<'_>, args: &str) -> Result<(Vec<String>, bool), Failure> {
    match json::parse(args) {
        JsonArgs::Array(a) => Ok((a, true)),
        JsonArgs::NotStrings => Err(ctx.fail(json::NOT_STRINGS)),
        JsonArgs::NotJson => Ok((split_whitespace(args), false)),
    }
}

fn transfer(
    ctx: &Ctx<'_>,
    args: &str,
    heredocs: Vec<Heredoc>,
    flags: &flags::Flags,
) -> Result<Transfer, Failure> {
    let (mut words, json) = list(ctx, args)?;
    if words.len() < 2 {
        return Err(ctx.fail(format!(
            "{} requires at least two arguments (sources and a destination), but only {} provided",
            ctx.keyword,
            if words.is_empty() {
                "none was".to_string()
            } else {
                "one was".to_string()
            }
        )));
    }
    let dest = words.pop().unwrap_or_default();
    if !json && heredoc::marker(&dest).ok().flatten().is_some() {
        return Err(ctx.fail(format!(
            "{} cannot accept a heredoc as a destination",
            ctx.keyword
        )));
    }
    let mut docs = heredocs.into_iter();
    let mut sources = Vec::new();
    for word in words {
        let is_marker = !json && heredoc::marker(&word).ok().flatten().is_some();
        match (is_marker, is_marker.then(|| docs.next()).flatten()) {
            (true, Some(doc)) => sources.push(Source::Heredoc(doc)),
            _ => sources.push(Source::Path(word)),
        }
    }
    Ok(Transfer {
        sources,
        dest,
        chown: flags.value("chown"),
        chmod: flags.value("chmod"),
        link: flags.bool("link").unwrap_or(false),
        excludes: flags
            .values("exclude")
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        json,
    })
}

/// ENV and LABEL: `k=v k2="v 2"`, or the legacy `k v` whose value is the rest
/// of the line.
fn name_values(ctx: &Ctx<'_>, args: &str, escape: char) -> Result<Vec<KeyValue>, Failure> {
    let words = parse_words(args, escape);
    let Some(first) = words.first() else {
        return Err(ctx.at_least_one());
    };
    if !first.contains('=') {
        let mut parts = args.splitn(2, ['\t', '\u{b}', '\u{c}', '\r', ' ']);
        let key = parts.next().unwrap_or_default();
        let value = parts
            .next()
            .map(|v| v.trim_start_matches(['\t', '\u{b}', '\u{c}', '\r', ' ']));
        return match value {
            Some(value) if !value.is_empty() => Ok(vec![KeyValue {
                key: key.to_string(),
                value: value.to_string(),
            }]),
            _ => Err(ctx.fail(format!(
                "{} must have two arguments ({0} key=value or {0} key value)",
                ctx.keyword
            ))),
        };
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(ctx.fail(format!(
                "Syntax error - can't find = in {:?}. Must be of the form: name=value",
                clip(&word)
            )));
        };
        if key.is_empty() {
            return Err(ctx.fail(format!("{} names can not be blank", ctx.keyword)));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

fn healthcheck(ctx: &Ctx<'_>, args: &str, flag_words: &[FlagWord]) -> Result<Healthcheck, Failure> {
    let typ_len = args.find(char::is_whitespace).unwrap_or(args.len());
    let typ = args[..typ_len].to_uppercase();
    let rest = args[typ_len..].trim_start();
    match typ.as_str() {
        "" => Err(ctx.at_least_one()),
        "NONE" => {
            ctx.flags(flag_words, &[])?;
            if !rest.is_empty() {
                return Err(ctx.fail("HEALTHCHECK NONE takes no arguments"));
            }
            Ok(Healthcheck::None)
        }
        "CMD" => {
            let flags = ctx.flags(
                flag_words,
                &[
                    ("interval", Kind::Value),
                    ("timeout", Kind::Value),
                    ("start-period", Kind::Value),
                    ("start-interval", Kind::Value),
                    ("retries", Kind::Value),
                ],
            )?;
            let command = command_line(ctx, rest)?;
            if matches!(&command, CommandLine::Shell(s) if s.is_empty())
                || matches!(&command, CommandLine::Exec(a) if a.is_empty())
            {
                return Err(ctx.fail("Missing command after HEALTHCHECK CMD"));
            }
            let duration = |name: &str| -> Result<Option<std::time::Duration>, Failure> {
                let Some(v) = flags.value(name) else {
                    return Ok(None);
                };
                let at = flags.offset(name).unwrap_or(ctx.start);
                let d = crate::duration::parse(&v)
                    .map_err(|m| ctx.fail_at(at, format!("--{name}: {m}")))?;
                if !d.is_zero() && d < MIN_HEALTHCHECK_DURATION {
                    return Err(
                        ctx.fail_at(at, format!("--{name} cannot be less than 1ms (got {v})"))
                    );
                }
                Ok(Some(d))
            };
            let retries = match flags.value("retries") {
                None => None,
                Some(v) => {
                    let at = flags.offset("retries").unwrap_or(ctx.start);
                    let n: i32 = v.parse().map_err(|_| {
                        ctx.fail_at(at, format!("--retries: invalid number {:?}", clip(&v)))
                    })?;
                    Some(u32::try_from(n).map_err(|_| {
                        ctx.fail_at(at, format!("--retries cannot be negative ({n})"))
                    })?)
                }
            };
            Ok(Healthcheck::Check(HealthcheckCommand {
                command,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            }))
        }
        _ => Err(ctx.fail(format!(
            "Unknown type {:?} in HEALTHCHECK (try CMD)",
            clip(&typ)
        ))),
    }
}
