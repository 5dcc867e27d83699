//! Restart decisions and the delay between restarts.

use crate::config::{RestartName, RestartPolicy};
use std::time::Duration;

const FIRST: Duration = Duration::from_millis(100);
const CAP: Duration = Duration::from_secs(60);
/// A run at least this long counts as a success for the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// Whether the policy asks for another run. `restarts` is how many restarts
/// already happened; `stopped` is the engine's user-stop marker.
pub fn should_restart(
    policy: &RestartPolicy,
    exit_code: i32,
    restarts: u32,
    stopped: bool,
) -> bool {
    if stopped {
        return false;
    }
    match policy.name {
        RestartName::No => false,
        RestartName::Always | RestartName::UnlessStopped => true,
        RestartName::OnFailure => {
            exit_code != 0 && (policy.max_retries == 0 || restarts < policy.max_retries)
        }
    }
}

#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST }
    }
}

impl Backoff {
    /// The delay before the next start, given how long the last run lasted.
    pub fn delay(&mut self, last_run: Duration) -> Duration {
        if last_run >= STABLE {
            self.next = FIRST;
        }
        let d = self.next;
        self.next = (self.next * 2).min(CAP);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_sequence() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        let got: Vec<u64> = (0..12).map(|_| b.delay(short).as_millis() as u64).collect();
        assert_eq!(
            got,
            vec![100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
        assert_eq!(b.delay(Duration::from_secs(10)), FIRST);
        assert_eq!(b.delay(short), Duration::from_millis(200));
    }

    #[test]
    fn policies() {
        let p = |name, max_retries| RestartPolicy { name, max_retries };
        assert!(!should_restart(&p(RestartName::No, 0), 1, 0, false));
        assert!(should_restart(&p(RestartName::Always, 0), 0, 99, false));
        assert!(!should_restart(&p(RestartName::Always, 0), 0, 0, true));
        assert!(should_restart(
            &p(RestartName::UnlessStopped, 0),
            0,
            0,
            false
        ));
        let of = p(RestartName::OnFailure, 2);
        assert!(!should_restart(&of, 0, 0, false));
        assert!(should_restart(&of, 1, 0, false));
        assert!(should_restart(&of, 1, 1, false));
        assert!(!should_restart(&of, 1, 2, false));
        assert!(should_restart(
            &p(RestartName::OnFailure, 0),
            1,
            1000,
            false
        ));
    }
}
