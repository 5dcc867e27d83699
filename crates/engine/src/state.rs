//! A container's state as stored in its database row and shown by `inspect`/`ps`.
//! While a monitor runs, its state file is the live truth; the row takes over the
//! final state when the monitor's cleanup runs.

use serde::{Deserialize, Serialize};

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Removing,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "exited" => Status::Exited,
            "removing" => Status::Removing,
            "dead" => Status::Dead,
            _ => return None,
        })
    }

    /// Running, paused or restarting: a monitor owns the container.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub restart_count: u32,
    pub health: Option<Health>,
    /// Stopped by `stop`/`rm -f` rather than by itself: `unless-stopped` then stays
    /// down at `system boot`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub manually_stopped: bool,
}

impl Default for ContainerState {
    fn default() -> Self {
        ContainerState {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            oom_killed: false,
            restart_count: 0,
            health: None,
            manually_stopped: false,
        }
    }
}

impl ContainerState {
    /// Takes over what a monitor's state file says.
    pub fn from_monitor(m: &berth_monitor::state::MonitorState) -> ContainerState {
        let status = Status::parse(&m.status).unwrap_or(Status::Dead);
        ContainerState {
            status,
            pid: if status.is_active() { m.pid } else { 0 },
            exit_code: m.exit_code.unwrap_or(0),
            error: m.error.clone().unwrap_or_default(),
            started_at: m.started_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            finished_at: m.finished_at.clone().unwrap_or_else(|| ZERO_TIME.into()),
            oom_killed: m.oom_killed,
            restart_count: m.restart_count,
            health: m.health.as_ref().map(|h| Health {
                status: h.status.clone(),
                failing_streak: h.failing_streak,
                log: h
                    .log
                    .iter()
                    .map(|r| HealthResult {
                        start: r.start.clone(),
                        end: r.end.clone(),
                        exit_code: r.exit_code,
                        output: r.output.clone(),
                    })
                    .collect(),
            }),
            manually_stopped: false,
        }
    }
}
