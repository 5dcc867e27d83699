//! The registry client: pull, push, auth.
