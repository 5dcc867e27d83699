//! The whole file: directives, global ARGs and stages.

use crate::directives::Directives;
use crate::error::{Failure, ParseError};
use crate::instruction::{ArgDecl, Instruction, InstructionKind, Location};
use crate::parse::{parse_line, Parsed};
use crate::reader::Reader;

/// A parsed, validated Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// ARG instructions before the first FROM (every kind is
    /// [`InstructionKind::Arg`]); they are in scope for FROM lines only.
    pub global_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// One `FROM ... [AS name]` and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages, from 0 (what `COPY --from=0` names).
    pub index: usize,
    /// The stage name, lower-cased as Docker does.
    pub name: Option<String>,
    /// The base image or stage name, unexpanded (may use global ARGs).
    pub base: String,
    /// `FROM --platform=`, unexpanded.
    pub platform: Option<String>,
    /// Where the FROM line is.
    pub location: Location,
    /// The FROM line as written.
    pub original: String,
    pub instructions: Vec<Instruction>,
}

/// What a stage reference (`FROM x`, `COPY --from=x`, `--mount from=x`)
/// names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRef {
    /// A stage of this Dockerfile, by index.
    Stage(usize),
    /// An image reference (the text as given).
    Image(String),
}

/// A `--from` that names a stage it cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid stage reference {reference:?}: {message}")]
pub struct StageRefError {
    pub reference: String,
    pub message: String,
}

impl Dockerfile {
    /// The escape character (`\` or `` ` ``) expansion must use.
    pub fn escape(&self) -> char {
        self.directives.escape
    }

    /// Every global ARG declaration, in order.
    pub fn global_arg_decls(&self) -> impl Iterator<Item = &ArgDecl> {
        self.global_args.iter().flat_map(|i| match &i.kind {
            InstructionKind::Arg(decls) => decls.as_slice(),
            _ => &[],
        })
    }

    /// The stage called `name` (case-insensitive).
    pub fn stage_by_name(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Resolves the (expanded) base of stage `current`'s FROM: a stage named
    /// before it, or an image.
    pub fn resolve_base(&self, base: &str, current: usize) -> StageRef {
        match self.stage_by_name(base) {
            Some(s) if s.index < current => StageRef::Stage(s.index),
            _ => StageRef::Image(base.to_string()),
        }
    }

    /// Resolves an (expanded) `COPY --from=` or `RUN --mount=from=` used in
    /// stage `current`: a stage name (case-insensitive), a stage index, or
    /// else an image. Naming the current stage, or an index that is not a
    /// stage, is an error. A later stage is allowed (BuildKit builds stages as
    /// a graph); the builder must order them and reject cycles.
    pub fn resolve_from(&self, reference: &str, current: usize) -> Result<StageRef, StageRefError> {
        let fail = |message: String| StageRefError {
            reference: crate::error::clip(reference),
            message,
        };
        let index = match self.stage_by_name(reference) {
            Some(stage) => stage.index,
            None if !reference.is_empty() && reference.bytes().all(|b| b.is_ascii_digit()) => {
                match reference.parse::<usize>() {
                    Ok(i) if i < self.stages.len() => i,
                    _ => {
                        return Err(fail(format!(
                        "there is no stage with that index (the Dockerfile has {} stages, from 0)",
                        self.stages.len()
                    )))
                    }
                }
            }
            None => return Ok(StageRef::Image(reference.to_string())),
        };
        if index == current {
            return Err(fail(format!("stage {current} cannot copy from itself")));
        }
        Ok(StageRef::Stage(index))
    }
}

/// Parses `source` as a file named `Dockerfile`.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    parse_named("Dockerfile", source)
}

/// Parses `source`; errors name `file`.
pub fn parse_named(file: &str, source: &str) -> Result<Dockerfile, ParseError> {
    build(source).map_err(|f| f.into_error(file))
}

/// Parses raw file contents, which must be UTF-8.
pub fn parse_bytes(file: &str, source: &[u8]) -> Result<Dockerfile, ParseError> {
    match std::str::from_utf8(source) {
        Ok(text) => parse_named(file, text),
        Err(e) => {
            let good = &source[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
            Err(Failure::new(
                line,
                column,
                "invalid UTF-8: a Dockerfile must be UTF-8 text",
            )
            .into_error(file))
        }
    }
}

fn build(source: &str) -> Result<Dockerfile, Failure> {
    let mut reader = Reader::new(source);
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut names = std::collections::HashSet::new();
    while let Some(line) = reader.next_logical()? {
        match parse_line(&line, 0, Some(&mut reader))? {
            Parsed::From {
                location,
                original,
                base,
                name,
                platform,
            } => {
                if let Some(n) = &name {
                    if !names.insert(n.clone()) {
                        let message = format!("duplicate stage name {:?}", crate::error::clip(n));
                        return Err(Failure::new(location.line, location.column, message));
                    }
                }
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    base,
                    platform,
                    location,
                    original,
                    instructions: Vec::new(),
                });
            }
            Parsed::Instruction(instruction) => match stages.last_mut() {
                Some(stage) => stage.instructions.push(instruction),
                None if matches!(instruction.kind, InstructionKind::Arg(_)) => {
                    global_args.push(instruction)
                }
                None => {
                    let at = instruction.location;
                    return Err(Failure::new(
                        at.line,
                        at.column,
                        format!(
                            "expected FROM before {}: only ARG may come before the first FROM",
                            instruction.kind.keyword()
                        ),
                    ));
                }
            },
        }
    }
    if stages.is_empty() {
        let line = reader.current_line();
        let message = if global_args.is_empty() {
            "expected a FROM instruction: the Dockerfile has no instructions"
        } else {
            "expected a FROM instruction: the Dockerfile has no build stage"
        };
        return Err(Failure::new(line, 1, message));
    }
    Ok(Dockerfile {
        directives: reader.directives().clone(),
        global_args,
        stages,
    })
}
