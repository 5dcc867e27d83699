//! Healthcheck bookkeeping. The check itself is a child process driven by the
//! poll loop; this module holds the state transitions.

use crate::config::HealthConfig;
use crate::state::{Health, HealthResult};
use std::time::Duration;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";
const KEEP_RESULTS: usize = 5;
pub const MAX_OUTPUT: usize = 4096;

pub fn initial() -> Health {
    Health {
        status: STARTING.into(),
        failing_streak: 0,
        log: Vec::new(),
    }
}

/// Records one result; returns true when this result made the container
/// unhealthy (a transition, not a repeat).
pub fn apply(
    health: &mut Health,
    cfg: &HealthConfig,
    result: HealthResult,
    in_start_period: bool,
) -> bool {
    let ok = result.exit_code == 0;
    health.log.push(result);
    if health.log.len() > KEEP_RESULTS {
        let extra = health.log.len() - KEEP_RESULTS;
        health.log.drain(..extra);
    }
    if ok {
        health.status = HEALTHY.into();
        health.failing_streak = 0;
        return false;
    }
    // Slow starters get a grace period: failures before the first success
    // inside it do not count.
    if in_start_period && health.status != HEALTHY {
        return false;
    }
    health.failing_streak += 1;
    if health.failing_streak >= cfg.retries.max(1) && health.status != UNHEALTHY {
        health.status = UNHEALTHY.into();
        return true;
    }
    false
}

/// Delay before the next check; `first` is the check right after start.
pub fn next_delay(cfg: &HealthConfig, first: bool) -> Duration {
    let ns = if first && cfg.start_interval_ns > 0 {
        cfg.start_interval_ns
    } else {
        cfg.interval_ns
    };
    Duration::from_nanos(ns.max(1_000_000))
}

pub fn timeout_message(cfg: &HealthConfig) -> String {
    format!(
        "Health check exceeded timeout ({})",
        humantime::format_duration(Duration::from_nanos(cfg.timeout_ns))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OnFailure;

    fn cfg(retries: u32) -> HealthConfig {
        HealthConfig {
            process_file: "/p".into(),
            interval_ns: 1_000_000_000,
            timeout_ns: 2_000_000_000,
            start_period_ns: 0,
            start_interval_ns: 0,
            retries,
            on_failure: OnFailure::None,
        }
    }

    fn res(code: i32) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn transitions() {
        let c = cfg(2);
        let mut h = initial();
        assert!(!apply(&mut h, &c, res(1), false));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        assert!(apply(&mut h, &c, res(1), false));
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        assert!(
            !apply(&mut h, &c, res(1), false),
            "only the transition reports"
        );
        assert!(!apply(&mut h, &c, res(0), false));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        for _ in 0..10 {
            apply(&mut h, &c, res(0), false);
        }
        assert_eq!(h.log.len(), KEEP_RESULTS);
    }

    #[test]
    fn start_period_grace() {
        let c = cfg(1);
        let mut h = initial();
        assert!(!apply(&mut h, &c, res(1), true));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        apply(&mut h, &c, res(0), true);
        // Once healthy, failures count even inside the start period.
        assert!(apply(&mut h, &c, res(1), true));
        assert_eq!(h.status, UNHEALTHY);
    }

    #[test]
    fn delays_and_messages() {
        let mut c = cfg(1);
        assert_eq!(next_delay(&c, true), Duration::from_secs(1));
        c.start_interval_ns = 5_000_000;
        assert_eq!(next_delay(&c, true), Duration::from_millis(5));
        assert_eq!(next_delay(&c, false), Duration::from_secs(1));
        assert_eq!(timeout_message(&c), "Health check exceeded timeout (2s)");
    }
}
