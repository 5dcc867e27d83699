//! Parser tests against whole Dockerfiles.

mod errors;
mod heredocs;
mod instructions;
mod robustness;
mod structure;

use crate::*;

pub(super) fn df(src: &str) -> Dockerfile {
    parse(src).unwrap_or_else(|e| panic!("{e}\n--- source:\n{src}"))
}

/// The kinds of the single stage of `FROM scratch\n` + `body`.
pub(super) fn kinds(body: &str) -> Vec<InstructionKind> {
    let d = df(&format!("FROM scratch\n{body}"));
    assert_eq!(d.stages.len(), 1);
    d.stages[0]
        .instructions
        .iter()
        .map(|i| i.kind.clone())
        .collect()
}

pub(super) fn one(body: &str) -> InstructionKind {
    let mut k = kinds(body);
    assert_eq!(k.len(), 1, "{body}: {k:?}");
    k.remove(0)
}

pub(super) fn err(src: &str) -> String {
    parse(src)
        .map(|d| format!("unexpectedly parsed: {d:?}"))
        .unwrap_or_else(|e| e.to_string())
}

/// The error for `FROM scratch\n` + `body` (so line numbers start at 2).
pub(super) fn body_err(body: &str) -> String {
    err(&format!("FROM scratch\n{body}"))
}

pub(super) fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}
