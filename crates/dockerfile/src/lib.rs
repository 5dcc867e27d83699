//! Dockerfile parsing and Docker's word expansion, for berth's builder.
//!
//! [`parse`] reads a Dockerfile into [`Dockerfile`] (directives, global ARGs,
//! stages of typed [`Instruction`]s), rejecting anything Docker would reject
//! before running a step. Values stay unexpanded: the builder expands them
//! per step with [`expand_word`] / [`expand_words`] and the stage's variables.

mod directives;
mod dockerfile;
mod duration;
mod error;
pub mod expand;
mod flags;
mod heredoc;
mod instruction;
mod json;
mod mount;
mod parse;
mod reader;
mod suggest;
mod words;

#[cfg(test)]
mod tests;

pub use directives::{CheckDirective, Directives};
pub use dockerfile::{parse, parse_bytes, parse_named, Dockerfile, Stage, StageRef, StageRefError};
pub use error::ParseError;
pub use expand::{expand_heredoc, expand_word, expand_words, ExpandError, Variables};
pub use instruction::{
    is_predefined_arg, Add, ArgDecl, CacheSharing, CommandLine, Copy, Healthcheck,
    HealthcheckCommand, Heredoc, Instruction, InstructionKind, KeyValue, Keyword, Location, Mount,
    MountType, NetworkMode, Onbuild, Run, SecurityMode, Source, Transfer, PLATFORM_ARGS,
    PROXY_ARGS,
};
pub use mount::{parse_mount, MountError};
