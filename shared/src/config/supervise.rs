//! Settings of `fleet supervise`, the local autoscaler for one-VM installs.

use serde::{Deserialize, Serialize};

/// How `fleet supervise` follows the scaling rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperviseSettings {
    /// How often queue figures are read and the worker count adjusted.
    pub interval_ms: u64,
    /// A kind scales down only to the highest recommendation seen in this window.
    pub scale_down_window_secs: u64,
}

impl Default for SuperviseSettings {
    fn default() -> Self {
        SuperviseSettings {
            interval_ms: 5_000,
            scale_down_window_secs: 60,
        }
    }
}
