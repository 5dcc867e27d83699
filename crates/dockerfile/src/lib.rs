//! Dockerfile parsing and Docker's word expansion, for berth's builder.

mod directives;
mod error;
pub mod expand;
mod flags;
mod reader;
mod words;

pub use directives::{CheckDirective, Directives};
pub use error::ParseError;
pub use expand::{expand_word, expand_words, ExpandError, Variables};
