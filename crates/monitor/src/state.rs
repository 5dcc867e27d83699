//! `state.json` in the run dir: the monitor's view of the container, rewritten
//! atomically at every change so a reader never sees half a file.

use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::Path;

pub const STATE_FILE: &str = "state.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorState {
    /// "created" | "running" | "restarting" | "exited"
    pub status: String,
    pub pid: i32,
    pub monitor_pid: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    pub restart_count: u32,
    pub error: Option<String>,
    pub health: Option<Health>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// "starting" | "healthy" | "unhealthy"
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// `Ok(None)` when the monitor has not written a state yet.
pub fn read(run_dir: &Path) -> io::Result<Option<MonitorState>> {
    match std::fs::read(run_dir.join(STATE_FILE)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn write(run_dir: &Path, state: &MonitorState) -> io::Result<()> {
    let tmp = run_dir.join(".state.json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(state).map_err(io::Error::other)?)?;
    drop(f);
    std::fs::rename(&tmp, run_dir.join(STATE_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let st = MonitorState {
            status: "exited".into(),
            pid: 0,
            monitor_pid: 42,
            exit_code: Some(3),
            restart_count: 2,
            health: Some(Health {
                status: "healthy".into(),
                failing_streak: 0,
                log: vec![HealthResult {
                    exit_code: 0,
                    output: "ok\n".into(),
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        write(dir.path(), &st).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(st));
        // Older or partial writers: missing fields take defaults.
        std::fs::write(dir.path().join(STATE_FILE), r#"{"status":"running"}"#).unwrap();
        assert_eq!(read(dir.path()).unwrap().unwrap().status, "running");
    }
}
