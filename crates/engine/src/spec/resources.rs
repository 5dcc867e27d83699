//! `linux.resources` from `--memory`, `--cpus`, `--cpu-shares`, `--cpuset-cpus`,
//! `--pids-limit` and `--device`, with Docker's rules (swap twice the memory limit
//! when only `--memory` is given; `--cpus` as a CFS quota over a 100 ms period).

use serde_json::{json, Map, Value};

use crate::model::HostConfig;

const CFS_PERIOD: i64 = 100_000;

pub fn build(h: &HostConfig, device_rules: Vec<Value>) -> Value {
    let mut r = Map::new();
    let mut mem = Map::new();
    if h.memory > 0 {
        mem.insert("limit".into(), json!(h.memory));
        let swap = match h.memory_swap {
            0 => h.memory * 2,
            -1 => -1,
            s => s,
        };
        mem.insert("swap".into(), json!(swap));
    }
    if h.memory_reservation > 0 {
        mem.insert("reservation".into(), json!(h.memory_reservation));
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if h.nano_cpus > 0 {
        cpu.insert("period".into(), json!(CFS_PERIOD));
        cpu.insert(
            "quota".into(),
            json!(h.nano_cpus * CFS_PERIOD / 1_000_000_000),
        );
    }
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = h.pids_limit {
        if p != 0 {
            r.insert("pids".into(), json!({"limit": p}));
        }
    }
    let mut devices = vec![json!({"allow": h.privileged, "access": "rwm"})];
    devices.extend(device_rules);
    r.insert("devices".into(), Value::Array(devices));
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_resource_rules() {
        let h = HostConfig {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            cpu_shares: 512,
            pids_limit: Some(10),
            ..Default::default()
        };
        let r = build(&h, vec![]);
        assert_eq!(r["memory"]["limit"], json!(64 << 20));
        assert_eq!(r["memory"]["swap"], json!(128 << 20));
        assert_eq!(r["cpu"]["quota"], json!(150_000));
        assert_eq!(r["cpu"]["period"], json!(100_000));
        assert_eq!(r["pids"]["limit"], json!(10));
        assert_eq!(r["devices"][0], json!({"allow": false, "access": "rwm"}));
        let unlimited = build(
            &HostConfig {
                memory: 1 << 20,
                memory_swap: -1,
                ..Default::default()
            },
            vec![],
        );
        assert_eq!(unlimited["memory"]["swap"], json!(-1));
    }
}
