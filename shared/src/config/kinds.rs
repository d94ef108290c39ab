//! Settings of each worker kind: concurrency, timeout, attempts, backoff, scaling.

use fleet_jobs::WorkerKind;
use serde::{Deserialize, Serialize};

/// How one worker kind runs its jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KindSettings {
    /// Jobs run at once per queue in one process.
    pub concurrency: usize,
    /// A job running longer than this fails its attempt.
    pub timeout_secs: u64,
    /// Attempts before a job goes dead.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each attempt.
    pub backoff_base_ms: u64,
    /// Longest delay between retries.
    pub backoff_max_ms: u64,
    /// Random share of each retry delay (0.0-1.0), spreading retries of jobs that failed together.
    pub backoff_jitter: f64,
    /// Waiting jobs one replica is expected to handle (autoscaling target).
    pub target_per_replica: u64,
    /// Fewest replicas recommended.
    pub min_replicas: u32,
    /// Most replicas recommended.
    pub max_replicas: u32,
}

impl KindSettings {
    fn with(concurrency: usize, timeout_secs: u64, max_attempts: u32) -> Self {
        KindSettings {
            concurrency,
            timeout_secs,
            max_attempts,
            ..KindSettings::default()
        }
    }

    /// These settings with the scaling rule `target` waiting jobs per replica, `min..=max` replicas.
    fn scaled(self, target: u64, min: u32, max: u32) -> Self {
        KindSettings {
            target_per_replica: target,
            min_replicas: min,
            max_replicas: max,
            ..self
        }
    }
}

impl Default for KindSettings {
    fn default() -> Self {
        KindSettings {
            concurrency: 8,
            timeout_secs: 300,
            max_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_ms: 10 * 60 * 1_000,
            backoff_jitter: 0.5,
            target_per_replica: 100,
            min_replicas: 0,
            max_replicas: 20,
        }
    }
}

/// Settings for every worker kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KindsSettings {
    /// Photos and videos: CPU-bound, long for video.
    pub media: KindSettings,
    /// Marketplace pushes: network-bound, rate limited remotely.
    pub export: KindSettings,
    /// Notification fan-out and delivery.
    pub notify: KindSettings,
    /// Categorization.
    pub categorize: KindSettings,
    /// Payouts: money, so few attempts and a human looks at the dead ones.
    pub payout: KindSettings,
}

impl Default for KindsSettings {
    fn default() -> Self {
        KindsSettings {
            // Scaling defaults match deploy/k8s/keda.yaml (checked by a test).
            media: KindSettings::with(2, 900, 5).scaled(50, 1, 20),
            export: KindSettings::with(8, 600, 8).scaled(20, 0, 10),
            notify: KindSettings::with(32, 120, 8).scaled(500, 1, 10),
            // Many at once: the jobs waiting for the model are ranked in one batch.
            categorize: KindSettings::with(64, 120, 5).scaled(100, 0, 10),
            payout: KindSettings::with(4, 120, 10).scaled(50, 1, 10),
        }
    }
}

impl KindsSettings {
    /// The settings of `kind`.
    pub fn of(&self, kind: WorkerKind) -> &KindSettings {
        match kind {
            WorkerKind::Media => &self.media,
            WorkerKind::Export => &self.export,
            WorkerKind::Notify => &self.notify,
            WorkerKind::Categorize => &self.categorize,
            WorkerKind::Payout => &self.payout,
        }
    }
}
