//! Helpers of the `berth build` tests: a context directory under the test's work
//! directory, and a build of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use super::engine::Engine;

/// `<work>/<name>` holding `files` (path in the context, content).
pub fn context(e: &Engine, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = e.work.path().join(name);
    fs::create_dir_all(&dir).unwrap();
    for (path, content) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
    }
    dir
}

/// `berth build EXTRA DIR`.
pub fn build(e: &Engine, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    e.berth(&args)
}
