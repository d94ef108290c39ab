//! Circuit breakers, one per remote host: after `threshold` consecutive
//! failures a host is refused for `cooldown`, then one trial call decides.

use super::HttpError;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Debug, Default)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

/// The breakers of every host a client talks to.
#[derive(Debug, Clone)]
pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    hosts: Arc<Mutex<HashMap<String, State>>>,
}

impl Breakers {
    /// Breakers opening after `threshold` failures for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breakers {
            threshold: threshold.max(1),
            cooldown,
            hosts: Arc::default(),
        }
    }

    /// Fails fast while `host`'s circuit is open; lets one trial through after the cooldown.
    pub fn check(&self, host: &str) -> Result<(), HttpError> {
        let Ok(mut hosts) = self.hosts.lock() else {
            return Ok(());
        };
        let state = hosts.entry(host.to_owned()).or_default();
        match state.open_until {
            Some(until) if Instant::now() < until => Err(HttpError::CircuitOpen {
                host: host.to_owned(),
                retry_in_secs: until
                    .saturating_duration_since(Instant::now())
                    .as_secs()
                    .max(1),
            }),
            Some(_) if state.trial_in_flight => Err(HttpError::CircuitOpen {
                host: host.to_owned(),
                retry_in_secs: 1,
            }),
            Some(_) => {
                state.trial_in_flight = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records a success: the circuit closes.
    pub fn success(&self, host: &str) {
        if let Ok(mut hosts) = self.hosts.lock() {
            hosts.insert(host.to_owned(), State::default());
        }
    }

    /// Records a failure; opens the circuit at the threshold or when a trial fails.
    pub fn failure(&self, host: &str) {
        if let Ok(mut hosts) = self.hosts.lock() {
            let state = hosts.entry(host.to_owned()).or_default();
            state.failures += 1;
            if state.trial_in_flight || state.failures >= self.threshold {
                if state.open_until.is_none() || state.trial_in_flight {
                    tracing::warn!(host, failures = state.failures, cooldown = ?self.cooldown, "circuit opened");
                }
                state.open_until = Some(Instant::now() + self.cooldown);
                state.trial_in_flight = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let b = Breakers::new(3, Duration::from_millis(50));
        for _ in 0..2 {
            b.failure("h");
            assert!(b.check("h").is_ok());
        }
        b.failure("h");
        assert!(matches!(b.check("h"), Err(HttpError::CircuitOpen { .. })));
        assert!(b.check("other").is_ok(), "per host");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check("h").is_ok(), "one trial after the cooldown");
        assert!(b.check("h").is_err(), "only one trial at a time");
        b.failure("h");
        assert!(b.check("h").is_err(), "a failed trial reopens");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check("h").is_ok());
        b.success("h");
        assert!(
            b.check("h").is_ok() && b.check("h").is_ok(),
            "a successful trial closes"
        );
    }
}
