//! Default security settings, as Docker applies them: capabilities, the seccomp
//! profile, masked and read-only /proc paths.
