//! Worker kinds: each owns a set of queues and scales on their depth.

use crate::queues;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A kind of worker process, deployable and scalable on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerKind {
    /// Photo and video compression.
    Media,
    /// Marketplace exports.
    Export,
    /// Notification fan-out and delivery.
    Notify,
    /// Listing categorization.
    Categorize,
    /// Ledger and payouts.
    Payout,
}

impl WorkerKind {
    /// Every worker kind.
    pub const ALL: [WorkerKind; 5] = [
        WorkerKind::Media,
        WorkerKind::Export,
        WorkerKind::Notify,
        WorkerKind::Categorize,
        WorkerKind::Payout,
    ];

    /// The name used on the command line and in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerKind::Media => "media",
            WorkerKind::Export => "export",
            WorkerKind::Notify => "notify",
            WorkerKind::Categorize => "categorize",
            WorkerKind::Payout => "payout",
        }
    }

    /// The queues a worker of this kind consumes.
    pub fn queues(self) -> &'static [&'static str] {
        match self {
            WorkerKind::Media => &[queues::MEDIA],
            WorkerKind::Export => &[
                queues::EXPORT_SHOPIFY,
                queues::EXPORT_ETSY,
                queues::EXPORT_AMAZON,
            ],
            WorkerKind::Notify => &[
                queues::NOTIFY_FANOUT,
                queues::NOTIFY_EMAIL,
                queues::NOTIFY_PUSH,
                queues::NOTIFY_WEBHOOK,
                queues::NOTIFY_PRIORITY,
            ],
            WorkerKind::Categorize => &[queues::CATEGORIZE],
            WorkerKind::Payout => &[queues::PAYOUT],
        }
    }

    /// The worker kind that consumes `queue`, if it is one of Fleet's queues.
    pub fn of_queue(queue: &str) -> Option<WorkerKind> {
        WorkerKind::ALL
            .into_iter()
            .find(|kind| kind.queues().contains(&queue))
    }
}

impl fmt::Display for WorkerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A worker kind name that is not one of Fleet's.
#[derive(Debug, thiserror::Error)]
#[error("unknown worker kind `{0}` (expected one of: media, export, notify, categorize, payout)")]
pub struct UnknownWorkerKind(pub String);

impl FromStr for WorkerKind {
    type Err = UnknownWorkerKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WorkerKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownWorkerKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_has_exactly_one_kind() {
        for queue in queues::ALL {
            let owners = WorkerKind::ALL
                .iter()
                .filter(|k| k.queues().contains(&queue))
                .count();
            assert_eq!(owners, 1, "{queue}");
        }
        assert_eq!(
            WorkerKind::of_queue("export.etsy"),
            Some(WorkerKind::Export)
        );
        assert_eq!(WorkerKind::of_queue("nope"), None);
    }

    #[test]
    fn parses_names() {
        assert_eq!("notify".parse::<WorkerKind>().unwrap(), WorkerKind::Notify);
        let err = "email".parse::<WorkerKind>().unwrap_err();
        assert!(err.to_string().contains("expected one of"));
    }
}
