//! `update`: new resource limits (applied to a running container's cgroup at once)
//! and a new restart policy (a running container's monitor applies it from its next
//! exit).

use std::fs;

use crate::engine::Engine;
use crate::error::{EngineError, IoContext, Result};
use crate::model::RestartPolicy;
use crate::records::{self, Container};

#[derive(Debug, Default, Clone)]
pub struct UpdateRequest {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

impl Engine {
    pub fn update(&self, key: &str, req: &UpdateRequest) -> Result<Container> {
        let c = self.find(key)?;
        let mut s = c.settings.clone();
        let h = &mut s.host_config;
        if let Some(v) = req.memory {
            h.memory = v;
        }
        if let Some(v) = req.memory_swap {
            h.memory_swap = v;
        }
        if let Some(v) = req.memory_reservation {
            h.memory_reservation = v;
        }
        if let Some(v) = req.nano_cpus {
            h.nano_cpus = v;
        }
        if let Some(v) = req.cpu_shares {
            h.cpu_shares = v;
        }
        if let Some(v) = &req.cpuset_cpus {
            h.cpuset_cpus = v.clone();
        }
        if let Some(v) = req.pids_limit {
            h.pids_limit = Some(v);
        }
        if let Some(r) = &req.restart {
            if r.name != "no" && !r.name.is_empty() && h.auto_remove {
                return Err(EngineError::invalid(
                    "--restart",
                    "a container started with --rm cannot have a restart policy",
                ));
            }
            h.restart_policy = r.clone();
        }
        if c.state.status.is_active() {
            let mut res = crate::spec::resources_for_update(&s.host_config);
            // Device rules are fixed at start; an update never widens them.
            if let Some(o) = res.as_object_mut() {
                o.remove("devices");
            }
            let res: oci_spec::runtime::LinuxResources =
                serde_json::from_value(res).map_err(|e| EngineError::Json {
                    what: "resources".into(),
                    why: e.to_string(),
                })?;
            let mut rc =
                berth_runtime::lifecycle::Container::load(&self.layout().runtime_root(), &c.id)?;
            rc.update(&res)?;
            if let Some(r) = &req.restart {
                let name = if r.name.is_empty() { "no" } else { &r.name };
                let p =
                    serde_json::json!({"name": name, "max_retries": r.maximum_retry_count.max(0)});
                let f = self.layout().run_dir(&c.id).join("restart.json");
                fs::write(&f, p.to_string()).ctx(|| format!("writing {}", f.display()))?;
            }
        }
        records::update_settings(self.db(), &c.id, &s)?;
        self.find(&c.id)
    }

    /// `system boot`: after a host start, starts the containers whose restart policy
    /// says so: `always` ones, and `unless-stopped` ones the user had not stopped.
    pub fn boot(&self) -> Result<Vec<(String, Result<()>)>> {
        // Nothing ran across the reboot: addresses still recorded are stale.
        self.release_stale_networking()?;
        let mut out = Vec::new();
        for c in self.list()? {
            let p = c.settings.host_config.restart_policy.name.as_str();
            let wanted = match p {
                "always" => true,
                "unless-stopped" => !c.state.manually_stopped,
                _ => false,
            };
            if !wanted || c.state.status.is_active() {
                continue;
            }
            let r = self.start(&c.id, false).map(|_| ());
            out.push((c.name.clone(), r));
        }
        Ok(out)
    }
}
