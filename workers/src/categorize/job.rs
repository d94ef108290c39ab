//! The `categorize.listing` job: classify the listing's text (from the cache
//! when the same text was classified before), record the suggestions, and
//! apply the best one when the rules allow.

use super::{
    CategorizeError, Categorizer, Classification, ListingText,
    listing::{ListingCategories, Outcome, decide},
    text,
};
use crate::{
    Services,
    runtime::{JobContext, JobError, JobHandler},
};
use fleet_jobs::categorize::CategorizeListing;
use fleet_shared::db::{categorize::ListingSuggestions, now_ms};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Longest title read, in bytes.
const MAX_TITLE_BYTES: usize = 1_024;

/// Runs [`CategorizeListing`] jobs. The model is loaded on the first job and shared.
#[derive(Clone)]
pub struct CategorizeHandler {
    services: Services,
    categorizer: Arc<OnceCell<Categorizer>>,
    listings: Option<Arc<dyn ListingCategories>>,
}

impl std::fmt::Debug for CategorizeHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CategorizeHandler")
            .field("loaded", &self.categorizer.initialized())
            .field("catalogue", &self.listings.is_some())
            .finish()
    }
}

impl CategorizeHandler {
    /// A handler that loads its model on first use; `listings` applies categories (None: suggestions only).
    pub fn new(services: Services, listings: Option<Arc<dyn ListingCategories>>) -> Self {
        CategorizeHandler {
            services,
            categorizer: Arc::new(OnceCell::new()),
            listings,
        }
    }

    /// A handler on an already loaded categorizer (tests, `fleet dev`).
    pub fn with_categorizer(
        services: Services,
        categorizer: Categorizer,
        listings: Option<Arc<dyn ListingCategories>>,
    ) -> Self {
        CategorizeHandler {
            services,
            categorizer: Arc::new(OnceCell::new_with(Some(categorizer))),
            listings,
        }
    }

    async fn categorizer(&self) -> Result<&Categorizer, CategorizeError> {
        self.categorizer
            .get_or_try_init(|| Categorizer::load(&self.services.config))
            .await
    }
}

/// The listing text as classified: title and description truncated on character boundaries.
pub fn listing_text(job: &CategorizeListing, max_description: usize) -> ListingText {
    ListingText {
        title: text::truncate(job.title.trim(), MAX_TITLE_BYTES).to_owned(),
        description: text::truncate(job.description.trim(), max_description).to_owned(),
        brand: job.brand.clone(),
        image_urls: job.image_urls.clone(),
    }
}

/// The cache key: provider, taxonomy version, and the text and image ids classified.
pub fn cache_key(provider: &str, item: &ListingText, image_ids: &[String]) -> String {
    let mut ids: Vec<&str> = image_ids.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for part in [
        provider,
        &fleet_shared::taxonomy::Taxonomy::shipped().version,
        &item.title,
        &item.description,
        item.brand.as_deref().unwrap_or_default(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for id in ids {
        h.update(id.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn failure(err: CategorizeError) -> JobError {
    match err {
        // Fixing these needs an operator (install the model, fix the path): retrying now cannot help.
        CategorizeError::ModelNotFound { .. } | CategorizeError::Model { .. } => {
            JobError::permanent(err)
        }
        _ => JobError::retry(err),
    }
}

impl JobHandler for CategorizeHandler {
    type Job = CategorizeListing;

    async fn handle(&self, job: CategorizeListing, ctx: JobContext) -> Result<(), JobError> {
        let settings = &self.services.config.categorize;
        let item = listing_text(&job, settings.max_text_bytes);
        if item.title.is_empty() && item.description.is_empty() {
            return Err(JobError::Permanent(
                "the listing has neither a title nor a description".to_owned(),
            ));
        }
        let categorizer = self.categorizer().await.map_err(failure)?;
        let key = cache_key(categorizer.provider_name(), &item, &job.image_ids);
        let cached = ctx
            .db
            .categorize_cached(&key)
            .await
            .map_err(JobError::retry)?
            .and_then(|json| serde_json::from_str::<Classification>(&json).ok());
        let (classification, hit) = match cached {
            Some(c) => (c, true),
            None => {
                let c = categorizer
                    .classify(vec![item])
                    .await
                    .map_err(failure)?
                    .pop()
                    .ok_or_else(|| JobError::Retry("the classifier returned nothing".to_owned()))?;
                // A fallback answer is not what the configured provider would say: not cached.
                if c.fallback.is_none() {
                    let json = serde_json::to_string(&c).map_err(JobError::permanent)?;
                    ctx.db
                        .categorize_store(&key, categorizer.provider_name(), &json)
                        .await
                        .map_err(JobError::retry)?;
                }
                (c, false)
            }
        };
        metrics::counter!("fleet_categorize_results_total", "cache" => if hit { "hit" } else { "miss" })
            .increment(1);
        let Some(listing_id) = &job.listing_id else {
            tracing::info!(cache_hit = hit, best = ?classification.best().map(|s| &s.gid), "text categorized");
            return Ok(());
        };
        let best = classification.best();
        let (outcome, applied_gid) = match &self.listings {
            None => (Outcome::Pending, None),
            Some(listings) => {
                let current = listings
                    .current(listing_id)
                    .await
                    .map_err(JobError::retry)?;
                match decide(current.as_ref(), best, settings.apply_threshold) {
                    Outcome::Applied => {
                        let s = best.ok_or_else(|| JobError::Retry("no suggestion".to_owned()))?;
                        if listings
                            .apply(listing_id, &s.gid)
                            .await
                            .map_err(JobError::retry)?
                        {
                            (Outcome::Applied, Some(s.gid.clone()))
                        } else {
                            // The seller chose one between our read and our write.
                            (Outcome::SellerSet, None)
                        }
                    }
                    other => (other, None),
                }
            }
        };
        if outcome == Outcome::NoListing {
            // Deleted since the job was enqueued: nothing to keep suggestions for.
            tracing::info!(listing_id = %listing_id, "listing gone; suggestions dropped");
            return Ok(());
        }
        ctx.db
            .categorize_record(&ListingSuggestions {
                listing_id: listing_id.clone(),
                text_key: key,
                result: serde_json::to_string(&classification).map_err(JobError::permanent)?,
                applied_gid,
                outcome: outcome.as_str().to_owned(),
                updated_at: now_ms(),
            })
            .await
            .map_err(JobError::retry)?;
        tracing::info!(listing_id = %listing_id, cache_hit = hit, outcome = outcome.as_str(), "listing categorized");
        Ok(())
    }
}
