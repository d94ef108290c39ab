//! Notification job contracts: fan-out chunks and one delivery job per
//! recipient and channel. Events of the priority lane (single-recipient,
//! transactional) run every step on `notify.priority`, so a big fan-out never
//! delays them.

use crate::{Job, queues};
use serde::{Deserialize, Serialize};

fn lane(priority: bool, queue: &'static str) -> &'static str {
    if priority {
        queues::NOTIFY_PRIORITY
    } else {
        queue
    }
}

/// Expands one chunk of an event's audience: the recipients after `after`
/// (in id order), at most the configured chunk size. A full chunk first
/// enqueues the next one, so several workers share a big event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanoutChunk {
    /// The event.
    pub event_id: String,
    /// Recipients strictly after this user id; none for the first chunk.
    pub after: Option<String>,
    /// Whether the event runs on the priority lane.
    #[serde(default)]
    pub priority: bool,
}

impl Job for FanoutChunk {
    const KIND: &'static str = "notify.fanout";

    fn queue(&self) -> &str {
        lane(self.priority, queues::NOTIFY_FANOUT)
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "notify.fanout:{}:{}",
            self.event_id,
            self.after.as_deref().unwrap_or("^")
        ))
    }
}

/// Sends one event's email to one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverEmail {
    /// The event.
    pub event_id: String,
    /// The recipient.
    pub user_id: String,
    /// Whether the event runs on the priority lane.
    #[serde(default)]
    pub priority: bool,
}

impl Job for DeliverEmail {
    const KIND: &'static str = "notify.email";

    fn queue(&self) -> &str {
        lane(self.priority, queues::NOTIFY_EMAIL)
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("notify.email:{}:{}", self.event_id, self.user_id))
    }
}

/// Sends one user the digest email of the events posted with `digest_key`
/// in the window starting at `window_start` (ms), due at the window's end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverDigest {
    /// The recipient.
    pub user_id: String,
    /// The events' digest key.
    pub digest_key: String,
    /// Start of the window (ms since the epoch, a multiple of the window length).
    pub window_start: i64,
}

impl Job for DeliverDigest {
    const KIND: &'static str = "notify.digest";

    fn queue(&self) -> &str {
        queues::NOTIFY_EMAIL
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "notify.digest:{}:{}:{}",
            self.user_id, self.digest_key, self.window_start
        ))
    }
}

/// Sends one event's Web Push messages to one user's subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverPush {
    /// The event.
    pub event_id: String,
    /// The recipient.
    pub user_id: String,
    /// Whether the event runs on the priority lane.
    #[serde(default)]
    pub priority: bool,
}

impl Job for DeliverPush {
    const KIND: &'static str = "notify.push";

    fn queue(&self) -> &str {
        lane(self.priority, queues::NOTIFY_PUSH)
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("notify.push:{}:{}", self.event_id, self.user_id))
    }
}

/// Delivers one event to one webhook endpoint; attempt `attempt` of the
/// Standard Webhooks retry schedule (each retry is a new job due later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    /// The event.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// Whether the event runs on the priority lane.
    #[serde(default)]
    pub priority: bool,
}

impl Job for DeliverWebhook {
    const KIND: &'static str = "notify.webhook";

    fn queue(&self) -> &str {
        lane(self.priority, queues::NOTIFY_WEBHOOK)
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!(
            "notify.webhook:{}:{}:{}",
            self.event_id, self.endpoint_id, self.attempt
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_jobs_use_the_priority_queue_and_keys_are_stable() {
        let chunk = FanoutChunk {
            event_id: "e".into(),
            after: None,
            priority: false,
        };
        assert_eq!(chunk.queue(), queues::NOTIFY_FANOUT);
        assert_eq!(chunk.idempotency_key().unwrap(), "notify.fanout:e:^");
        let email = DeliverEmail {
            event_id: "e".into(),
            user_id: "u".into(),
            priority: true,
        };
        assert_eq!(email.queue(), queues::NOTIFY_PRIORITY);
        assert_eq!(email.idempotency_key().unwrap(), "notify.email:e:u");
    }
}
