//! `berth-runtime`: the OCI runtime alone (runc's command-line contract), without the
//! engine, registry and image code of `berth`. Container managers and berth's own
//! monitor start a runtime process for every container; a binary a fraction of the
//! size loads and relocates faster, which is most of what such a short-lived
//! process costs. `berth runtime ...` runs the same code.

#[path = "../errors.rs"]
mod errors;
#[path = "../runtime_cli/mod.rs"]
mod runtime_cli;

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut argv = std::env::args_os();
    let invoked_as = argv
        .next()
        .as_deref()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("berth-runtime")
        .to_string();
    let args: Vec<OsString> = argv.collect();
    runtime_cli::main(&invoked_as, args)
}
