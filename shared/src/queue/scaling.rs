//! The scaling rule: how many workers of a kind its queues call for, and the
//! scale-down stabilisation `fleet supervise` applies so the count does not flap.

use crate::config::KindSettings;
use std::collections::VecDeque;

/// Recommended replicas of a kind with `waiting` jobs due across its queues:
/// `ceil(waiting / target_per_replica)`, within `min_replicas..=max_replicas`.
/// This is what KEDA computes from the same gauge and threshold.
pub fn recommended_replicas(waiting: u64, kind: &KindSettings) -> u32 {
    let target = kind.target_per_replica.max(1);
    let wanted = waiting.div_ceil(target);
    let max = kind.max_replicas.max(kind.min_replicas);
    u32::try_from(wanted)
        .unwrap_or(u32::MAX)
        .clamp(kind.min_replicas, max)
}

/// Replicas to run now, given the replicas running (`current`) and the
/// recommendations observed (`history`, as `(ms, replicas)` oldest first,
/// ending with the latest): scale up at once to the latest recommendation;
/// scale down only to the highest recommendation of the last `window_ms`, so
/// a dip shorter than the window changes nothing (the rule of Kubernetes'
/// HPA scale-down stabilisation window).
pub fn stabilised(current: u32, history: &[(i64, u32)], window_ms: i64) -> u32 {
    let Some(&(now, latest)) = history.last() else {
        return current;
    };
    if latest >= current {
        return latest;
    }
    let highest = history
        .iter()
        .rev()
        .take_while(|(at, _)| now - *at <= window_ms)
        .map(|(_, r)| *r)
        .max()
        .unwrap_or(latest);
    highest.min(current)
}

/// Recommendations of one kind over time and the replica count they lead to.
#[derive(Debug, Clone)]
pub struct Stabiliser {
    window_ms: i64,
    history: VecDeque<(i64, u32)>,
    current: u32,
}

impl Stabiliser {
    /// Starts at `current` replicas with a scale-down window of `window_ms`.
    pub fn new(current: u32, window_ms: i64) -> Self {
        Stabiliser {
            window_ms,
            history: VecDeque::new(),
            current,
        }
    }

    /// Records the recommendation made at `now_ms` and returns the replicas to run.
    pub fn observe(&mut self, now_ms: i64, recommended: u32) -> u32 {
        self.history.push_back((now_ms, recommended));
        while self
            .history
            .front()
            .is_some_and(|(at, _)| now_ms - *at > self.window_ms)
        {
            self.history.pop_front();
        }
        self.current = stabilised(self.current, self.history.make_contiguous(), self.window_ms);
        self.current
    }

    /// Replicas the last observation decided.
    pub fn current(&self) -> u32 {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(target: u64, min: u32, max: u32) -> KindSettings {
        KindSettings {
            target_per_replica: target,
            min_replicas: min,
            max_replicas: max,
            ..KindSettings::default()
        }
    }

    #[test]
    fn recommendation_is_ceil_of_waiting_over_target_within_bounds() {
        let k = kind(50, 1, 20);
        assert_eq!(recommended_replicas(0, &k), 1);
        assert_eq!(recommended_replicas(1, &k), 1);
        assert_eq!(recommended_replicas(50, &k), 1);
        assert_eq!(recommended_replicas(51, &k), 2);
        assert_eq!(recommended_replicas(999, &k), 20);
        assert_eq!(recommended_replicas(u64::MAX, &k), 20);
        let zero = kind(20, 0, 10);
        assert_eq!(recommended_replicas(0, &zero), 0);
        assert_eq!(recommended_replicas(1, &zero), 1);
        assert_eq!(recommended_replicas(41, &zero), 3);
        // A zero target is read as one job per replica; max below min reads as min.
        assert_eq!(recommended_replicas(3, &kind(0, 0, 10)), 3);
        assert_eq!(recommended_replicas(100, &kind(10, 4, 2)), 4);
    }

    #[test]
    fn scales_up_at_once_and_down_only_after_the_window() {
        let window = 60_000;
        let mut s = Stabiliser::new(1, window);
        assert_eq!(s.observe(0, 1), 1);
        assert_eq!(s.observe(5_000, 6), 6, "up immediately");
        assert_eq!(
            s.observe(10_000, 2),
            6,
            "a dip inside the window is ignored"
        );
        assert_eq!(s.observe(40_000, 2), 6);
        assert_eq!(s.observe(65_000, 2), 6, "6 was seen 60s ago");
        assert_eq!(s.observe(66_000, 2), 2, "the window no longer holds 6");
        assert_eq!(s.observe(70_000, 8), 8);
        assert_eq!(s.current(), 8);
    }

    #[test]
    fn steps_down_through_the_highest_recent_recommendation() {
        let mut s = Stabiliser::new(10, 30_000);
        let series = [
            (0, 10),
            (10_000, 7),
            (20_000, 4),
            (30_000, 1),
            (40_000, 1),
            (50_000, 1),
            (61_000, 1),
        ];
        let got: Vec<u32> = series.iter().map(|&(t, r)| s.observe(t, r)).collect();
        assert_eq!(got, vec![10, 10, 10, 10, 7, 4, 1]);
    }

    #[test]
    fn an_oscillating_load_does_not_flap() {
        // The recommendation swings between 2 and 8 every 10s for five minutes;
        // the replica count goes up once and stays.
        let mut s = Stabiliser::new(1, 60_000);
        let mut counts = Vec::new();
        for i in 0..30 {
            let r = if i % 2 == 0 { 8 } else { 2 };
            counts.push(s.observe(i * 10_000, r));
        }
        assert_eq!(direction_changes(&counts), 0);
        assert!(counts.iter().skip(1).all(|&c| c == 8), "{counts:?}");
        // Then the load stops: one step down after the window.
        let after: Vec<u32> = (30..40).map(|i| s.observe(i * 10_000, 0)).collect();
        assert_eq!(after.last(), Some(&0));
        assert_eq!(after.iter().filter(|&&c| c == 8).count(), 5);
        assert_eq!(direction_changes(&after), 0);
    }

    /// How often a series of counts turns from rising to falling or back.
    fn direction_changes(counts: &[u32]) -> usize {
        let mut last = 0i8;
        let mut changes = 0;
        for pair in counts.windows(2) {
            let dir = (pair[1] as i64 - pair[0] as i64).signum() as i8;
            if dir != 0 {
                if last != 0 && dir != last {
                    changes += 1;
                }
                last = dir;
            }
        }
        changes
    }

    #[test]
    fn no_history_keeps_the_current_count() {
        assert_eq!(stabilised(3, &[], 60_000), 3);
    }
}
