//! When a failed attempt runs again: exponential backoff with jitter.

use fleet_shared::config::KindSettings;
use rand::Rng;
use std::time::Duration;

/// How many attempts a job gets and how long it waits between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Share of the delay that is random, 0.0-1.0: the delay lies in `[ceiling * (1 - jitter), ceiling]`.
    pub jitter: f64,
}

impl RetryPolicy {
    /// The policy configured for a worker kind.
    pub fn from_settings(settings: &KindSettings) -> Self {
        RetryPolicy {
            base: Duration::from_millis(settings.backoff_base_ms),
            max: Duration::from_millis(settings.backoff_max_ms.max(settings.backoff_base_ms)),
            jitter: settings.backoff_jitter,
        }
    }

    /// The ceiling of the delay after failed attempt number `attempt` (1-based):
    /// `base * 2^(attempt-1)`, capped at `max`.
    pub fn ceiling(&self, attempt: i32) -> Duration {
        let exp = attempt.saturating_sub(1).clamp(0, 32) as u32;
        self.base
            .checked_mul(1u32 << exp.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay before the next attempt: uniformly random in
    /// `[ceiling * (1 - jitter), ceiling]` so that jobs failing together do not
    /// retry in lockstep.
    pub fn delay(&self, attempt: i32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let spread = ceiling.mul_f64(self.jitter.clamp(0.0, 1.0));
        let random = match spread.as_millis() as u64 {
            0 => 0,
            ms => rand::rng().random_range(0..=ms),
        };
        ceiling - spread + Duration::from_millis(random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
            jitter: 0.5,
        }
    }

    #[test]
    fn ceiling_doubles_and_caps() {
        let p = policy();
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(10), Duration::from_secs(5));
        assert_eq!(p.ceiling(1_000), Duration::from_secs(5));
        assert_eq!(p.ceiling(0), Duration::from_millis(100));
    }

    #[test]
    fn delay_is_jittered_within_bounds() {
        let p = policy();
        let delays: Vec<Duration> = (0..200).map(|_| p.delay(3)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(200) && *d <= Duration::from_millis(400))
        );
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter spreads retries");
        let exact = RetryPolicy { jitter: 0.0, ..p };
        assert_eq!(exact.delay(3), Duration::from_millis(400));
    }
}
