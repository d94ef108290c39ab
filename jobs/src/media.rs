//! Jobs of the `media` worker kind.

use crate::{Job, queues};
use serde::{Deserialize, Serialize};

/// Turns an uploaded source into variants (one job per upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMedia {
    /// The `media` row to process.
    pub media_id: String,
}

impl Job for ProcessMedia {
    const KIND: &'static str = "media.process";

    fn queue(&self) -> &str {
        queues::MEDIA
    }

    fn idempotency_key(&self) -> Option<String> {
        Some(format!("media.process:{}", self.media_id))
    }
}
