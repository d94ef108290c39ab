//! Jobs of the `categorize` worker kind.

use crate::{Job, queues};
use serde::{Deserialize, Serialize};

/// Suggests a taxonomy category and attributes for a listing's text (and
/// images), and applies the best category when it is confident enough and the
/// seller has not chosen one by hand.
///
/// Without `listing_id` it is the text-only variant: the result is computed
/// and cached (by a hash of the text and image ids) but applied to nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorizeListing {
    /// The listing to categorize; `None` for text only.
    #[serde(default)]
    pub listing_id: Option<String>,
    /// The listing's seller, when known (recorded with the suggestions).
    #[serde(default)]
    pub seller_id: Option<String>,
    /// Changes whenever the listing's text or images change (its `updated_at`, a version
    /// number): two jobs for the same revision are one job.
    #[serde(default)]
    pub revision: Option<String>,
    /// Title.
    pub title: String,
    /// Description; may be empty, and is truncated when very long.
    #[serde(default)]
    pub description: String,
    /// Brand the seller entered, if any.
    #[serde(default)]
    pub brand: Option<String>,
    /// Ids of the listing's images (part of the cache key).
    #[serde(default)]
    pub image_ids: Vec<String>,
    /// URLs of the listing's images, sent to vision models when enabled.
    #[serde(default)]
    pub image_urls: Vec<String>,
}

impl Job for CategorizeListing {
    const KIND: &'static str = "categorize.listing";

    fn queue(&self) -> &str {
        queues::CATEGORIZE
    }

    fn idempotency_key(&self) -> Option<String> {
        match (&self.listing_id, &self.revision) {
            (Some(id), Some(rev)) => Some(format!("categorize.listing:{id}:{rev}")),
            _ => None,
        }
    }
}
