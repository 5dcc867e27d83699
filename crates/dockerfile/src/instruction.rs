//! The typed instructions. Values are as written (unexpanded): the builder
//! expands them at execution time with [`crate::expand_word`] /
//! [`crate::expand_words`] for the instructions where
//! [`Keyword::expands_variables`] is true.

use std::time::Duration;

pub use crate::heredoc::Heredoc;
pub use crate::mount::{CacheSharing, Mount, MountType};

/// Where an instruction starts and ends in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// 1-based line of the keyword.
    pub line: usize,
    /// 1-based column (in characters) of the keyword.
    pub column: usize,
    /// Last line of the instruction, continuations and heredoc bodies included.
    pub end_line: usize,
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub location: Location,
    /// The instruction as written, continuations joined, heredoc bodies not
    /// included (`RUN echo hi`). History entries are built from this.
    pub original: String,
    pub kind: InstructionKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    /// `SHELL ["executable", "arg"]`: always JSON, never empty.
    Shell(Vec<String>),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    /// `ENV k=v ...` or the legacy `ENV k v` (one pair, the value is the rest of
    /// the line).
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Label(Vec<KeyValue>),
    /// Port specs (`80`, `53/udp`, `$PORT`), one per whitespace-separated word.
    Expose(Vec<String>),
    /// Paths; from the JSON form or split on whitespace.
    Volume(Vec<String>),
    User(String),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Onbuild(Onbuild),
    Maintainer(String),
}

/// Exec form (`["a", "b"]`) or shell form (`a b`, run with the stage's
/// SHELL, `/bin/sh -c` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    /// The command text; empty for a bare `CMD` or `ENTRYPOINT`.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// With heredocs this is the line as written (`<<EOF`, `python3 <<EOF`):
    /// the builder feeds each heredoc's content as the matching file or stdin.
    pub command: CommandLine,
    /// Heredocs in the order their markers appear (shell form only).
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

/// A COPY or ADD source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path, glob or (ADD) URL or git reference, as written.
    Path(String),
    /// A heredoc file (`COPY <<EOF /dest`): its name is the file name.
    Heredoc(Heredoc),
}

/// What COPY and ADD share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub sources: Vec<Source>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// `--exclude=` patterns, in order.
    pub excludes: Vec<String>,
    /// Written in JSON form.
    pub json: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub transfer: Transfer,
    /// `--from=`: resolve with [`crate::Dockerfile::resolve_from`].
    pub from: Option<String>,
    pub parents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub transfer: Transfer,
    /// `--checksum=sha256:...` for a remote source.
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    /// `--unpack=`: None leaves Docker's default (unpack local archives only).
    pub unpack: Option<bool>,
}

/// `key=value` of ENV or LABEL, both unexpanded and with quotes as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG, with its default if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// Unexpanded, with quotes as written.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    Check(HealthcheckCommand),
}

/// `HEALTHCHECK [flags] CMD ...`. Docker stores the shell form as
/// `["CMD-SHELL", text]` and the exec form as `["CMD", args...]`. Absent flags
/// are None; a zero duration also means "inherit the default", as in Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckCommand {
    pub command: CommandLine,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger text after `ONBUILD ` (what Docker stores in the image
    /// config's OnBuild list).
    pub expression: String,
    /// The trigger, parsed; never ONBUILD, FROM or MAINTAINER.
    pub trigger: Box<Instruction>,
}

/// Instruction keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
}

impl Keyword {
    pub const ALL: [Keyword; 18] = [
        Keyword::Add,
        Keyword::Arg,
        Keyword::Cmd,
        Keyword::Copy,
        Keyword::Entrypoint,
        Keyword::Env,
        Keyword::Expose,
        Keyword::From,
        Keyword::Healthcheck,
        Keyword::Label,
        Keyword::Maintainer,
        Keyword::Onbuild,
        Keyword::Run,
        Keyword::Shell,
        Keyword::StopSignal,
        Keyword::User,
        Keyword::Volume,
        Keyword::Workdir,
    ];

    /// The upper-case keyword (`STOPSIGNAL`).
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Add => "ADD",
            Keyword::Arg => "ARG",
            Keyword::Cmd => "CMD",
            Keyword::Copy => "COPY",
            Keyword::Entrypoint => "ENTRYPOINT",
            Keyword::Env => "ENV",
            Keyword::Expose => "EXPOSE",
            Keyword::From => "FROM",
            Keyword::Healthcheck => "HEALTHCHECK",
            Keyword::Label => "LABEL",
            Keyword::Maintainer => "MAINTAINER",
            Keyword::Onbuild => "ONBUILD",
            Keyword::Run => "RUN",
            Keyword::Shell => "SHELL",
            Keyword::StopSignal => "STOPSIGNAL",
            Keyword::User => "USER",
            Keyword::Volume => "VOLUME",
            Keyword::Workdir => "WORKDIR",
        }
    }

    /// Case-insensitive lookup.
    pub fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(word))
    }

    /// Whether the builder expands variables in this instruction's values:
    /// the Dockerfile reference's list (ADD COPY ENV EXPOSE FROM LABEL
    /// STOPSIGNAL USER VOLUME WORKDIR) plus ARG, whose names and defaults
    /// BuildKit expands too. ONBUILD itself is not expanded: its trigger is,
    /// when a child image runs it. Flag values are covered by
    /// [`Keyword::expanded_flags`].
    pub fn expands_variables(self) -> bool {
        matches!(
            self,
            Keyword::Add
                | Keyword::Arg
                | Keyword::Copy
                | Keyword::Env
                | Keyword::Expose
                | Keyword::From
                | Keyword::Label
                | Keyword::StopSignal
                | Keyword::User
                | Keyword::Volume
                | Keyword::Workdir
        )
    }

    /// Flags whose values BuildKit expands (RUN `--mount` values: see
    /// [`Mount::expand`]).
    pub fn expanded_flags(self) -> &'static [&'static str] {
        match self {
            Keyword::From => &["platform"],
            Keyword::Copy => &["from", "chown", "chmod", "exclude"],
            Keyword::Add => &["chown", "chmod", "checksum", "exclude"],
            Keyword::Run => &["mount"],
            _ => &[],
        }
    }

    /// RUN, COPY and ADD accept heredocs.
    pub fn accepts_heredocs(self) -> bool {
        matches!(self, Keyword::Run | Keyword::Copy | Keyword::Add)
    }
}

impl std::fmt::Display for Keyword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InstructionKind {
    pub fn keyword(&self) -> Keyword {
        match self {
            InstructionKind::Run(_) => Keyword::Run,
            InstructionKind::Cmd(_) => Keyword::Cmd,
            InstructionKind::Entrypoint(_) => Keyword::Entrypoint,
            InstructionKind::Shell(_) => Keyword::Shell,
            InstructionKind::Copy(_) => Keyword::Copy,
            InstructionKind::Add(_) => Keyword::Add,
            InstructionKind::Workdir(_) => Keyword::Workdir,
            InstructionKind::Env(_) => Keyword::Env,
            InstructionKind::Arg(_) => Keyword::Arg,
            InstructionKind::Label(_) => Keyword::Label,
            InstructionKind::Expose(_) => Keyword::Expose,
            InstructionKind::Volume(_) => Keyword::Volume,
            InstructionKind::User(_) => Keyword::User,
            InstructionKind::StopSignal(_) => Keyword::StopSignal,
            InstructionKind::Healthcheck(_) => Keyword::Healthcheck,
            InstructionKind::Onbuild(_) => Keyword::Onbuild,
            InstructionKind::Maintainer(_) => Keyword::Maintainer,
        }
    }
}

/// ARGs every build knows without declaring them in the global scope: the
/// proxy variables (never recorded in history unless declared)...
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// ...and the platform ARGs BuildKit sets (usable after `ARG NAME` in a stage,
/// and in the global scope).
pub const PLATFORM_ARGS: [&str; 8] = [
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
];

/// Whether `name` is one of [`PROXY_ARGS`] or [`PLATFORM_ARGS`].
pub fn is_predefined_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name) || PLATFORM_ARGS.contains(&name)
}
