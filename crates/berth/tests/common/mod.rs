//! Shared harness for the root-only runtime integration tests.
//!
//! The suite is written against runc's command-line contract so that it can
//! be validated against runc today and run unchanged against
//! `berth runtime` later. Pick the runtime with `BERTH_TEST_RUNTIME=/path`;
//! without it the tests drive this crate's `berth` binary.
//!
//! Each test binary compiles this module on its own and uses a different
//! subset of it, so unused items are expected.
#![allow(dead_code, unused_imports)]

pub mod bundle;
pub mod console;
pub mod gate;
pub mod host;
pub mod runtime;
pub mod testctx;

pub use gate::{loud, setup};
pub use runtime::Out;
pub use testctx::{State, TestCtx};
