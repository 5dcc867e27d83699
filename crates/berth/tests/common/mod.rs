//! Shared harness for the root-only runtime integration tests.
//!
//! The suite is written against runc's command-line contract so that it can
//! be validated against runc today and run unchanged against
//! `berth runtime` later. Pick the runtime with `BERTH_TEST_RUNTIME=/path`;
//! without it the tests drive this crate's `berth` binary.
//!
//! Run: `BERTH_TEST_RUNTIME=$(command -v runc) cargo test -p berth --test '*'`
//! (root; `CI=true` turns "not root" from a skip into a failure). Needs
//! Debian's busybox-static (/bin/busybox).
//!
//! Adding a test:
//!
//! ```ignore
//! #[test]
//! fn my_feature() {
//!     let Some(mut t) = common::setup("my_feature") else { return };
//!     t.config["hostname"] = json!("x");     // edit the runtime's own spec
//!     t.sh("hostname");                        // process = sh -c ...
//!     let out = t.run().check();               // run --bundle B <id>
//!     assert_eq!(out.stdout.trim(), "x", "{out}");
//! }
//! ```
//!
//! `t.create()/start()/state()/exec()/rt(&[...])` drive the two-phase
//! lifecycle and any other verb; `t.share("/out")` bind-mounts a host dir
//! for markers; `t.new_id()` gives extra container ids. Dropping `t` kills
//! and deletes every id it handed out and removes its temp dir, also when
//! the test panics.
//!
//! Each test binary compiles this module on its own and uses a different
//! subset of it, so unused items are expected.
#![allow(dead_code, unused_imports)]

pub mod build;
pub mod bundle;
pub mod console;
pub mod engine;
pub mod gate;
pub mod host;
pub mod net;
pub mod nets;
pub mod runtime;
pub mod testctx;

pub use gate::{loud, setup};
pub use runtime::Out;
pub use testctx::{State, TestCtx};
