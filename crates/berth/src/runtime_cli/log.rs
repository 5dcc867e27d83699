//! Error reporting as container managers expect it: the message on stderr and, with
//! `--log`, appended to the log file (containerd reads the last JSON line's `msg`).

use std::io::Write;
use std::path::PathBuf;

use super::LogFormat;

pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    pub fn new(file: Option<PathBuf>, format: LogFormat, debug: bool) -> Logger {
        Logger {
            file,
            format,
            debug,
        }
    }

    /// With `--debug`: a line per invocation, so a manager's calls can be traced.
    pub fn debug(&self, msg: &str) {
        if !self.debug {
            return;
        }
        if self.file.is_none() {
            eprintln!("berth-runtime: debug: {msg}");
        }
        self.append("debug", msg);
    }

    pub fn error(&self, msg: &str) {
        eprintln!("berth-runtime: {msg}");
        self.append("error", msg);
    }

    fn append(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let time = berth_runtime::state::now_rfc3339();
        let line = match self.format {
            LogFormat::Json => {
                serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
            }
            LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}"),
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
