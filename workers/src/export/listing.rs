//! A listing as exported: its record, the download URLs of its photos, and a
//! hash of everything a marketplace is sent, so an unchanged listing is skipped.

use crate::{Services, runtime::JobError};
use fleet_shared::{
    Db,
    blob::BlobKey,
    db::{exports::RunRecord, listings::ListingRecord, media::MediaStatus},
    export::ItemStatus,
    ledger::Currency,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::{collections::HashSet, time::Duration};

/// Bumped whenever what is sent for the same listing changes.
const RECIPE: &str = "export-v1";

/// A listing ready to be sent.
#[derive(Debug, Clone)]
pub struct ExportListing {
    /// The stored listing.
    pub record: ListingRecord,
    /// Download URLs of its photos, in display order.
    pub image_urls: Vec<String>,
    /// Blob keys of the same photos (for marketplaces that take the bytes).
    pub image_keys: Vec<BlobKey>,
}

impl ExportListing {
    /// `record` with URLs of its photos' largest JPEG variants; Err names a photo that is not usable.
    pub async fn resolve(services: &Services, record: ListingRecord) -> Result<Self, ItemError> {
        let ttl = Duration::from_secs(services.config.export.image_url_ttl_secs);
        let mut image_urls = Vec::with_capacity(record.images.len());
        let mut image_keys = Vec::with_capacity(record.images.len());
        for media_id in &record.images {
            let media = services
                .db
                .media(media_id)
                .await
                .map_err(|e| ItemError::Transient(e.to_string()))?
                .filter(|m| m.seller_id.as_deref() == Some(record.seller_id.as_str()))
                .ok_or_else(|| {
                    ItemError::Invalid(format!("photo {media_id} does not exist (or is not yours)"))
                })?;
            if media.status != MediaStatus::Ready {
                return Err(ItemError::Invalid(format!(
                    "photo {media_id} is not processed yet (status {}); export again when it is ready",
                    media.status.as_str()
                )));
            }
            let best = media
                .variants
                .iter()
                .filter(|v| v.format == "jpeg")
                .max_by_key(|v| v.width.max(v.height))
                .ok_or_else(|| {
                    ItemError::Invalid(format!("photo {media_id} has no JPEG variant"))
                })?;
            let key =
                BlobKey::new(best.key.clone()).map_err(|e| ItemError::Transient(e.to_string()))?;
            let url = services
                .blobs
                .presign_get(&key, ttl)
                .await
                .map_err(|e| ItemError::Transient(e.to_string()))?
                .url;
            image_urls.push(url);
            image_keys.push(key);
        }
        Ok(ExportListing {
            record,
            image_urls,
            image_keys,
        })
    }

    /// The price as a decimal of its currency (`12.50`) and the currency, or why there is none.
    pub fn price(&self) -> Result<(String, String), String> {
        match (self.record.price_minor, self.record.currency.as_deref()) {
            (Some(minor), Some(code)) => {
                let currency = Currency::new(code).map_err(|e| e.to_string())?;
                Ok((currency.decimal(minor), code.to_owned()))
            }
            _ => Err("no price: set price and currency before exporting".to_owned()),
        }
    }

    /// Hash of every exported field and photo id, and of what the sink derives
    /// (`derived`, empty when nothing): equal hashes send the same product.
    pub fn content_hash(&self, derived: &str) -> String {
        let r = &self.record;
        let mut fields = json!([
            RECIPE,
            r.sku,
            r.title,
            r.description,
            r.price_minor,
            r.currency,
            r.quantity,
            r.condition.as_str(),
            r.brand,
            r.size,
            r.colour,
            r.material,
            r.category,
            r.images,
            r.attributes,
        ]);
        if !derived.is_empty()
            && let Some(fields) = fields.as_array_mut()
        {
            fields.push(json!(derived));
        }
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }
}

/// Why an item whose listing is gone failed.
const DELETED: &str = "the listing was deleted before it was exported";

/// The listings of `run` among `ids`, in id order; the items whose listing was
/// deleted since the run was planned are failed here.
pub async fn run_listings(
    db: &Db,
    run: &RunRecord,
    ids: &[String],
) -> Result<Vec<ListingRecord>, JobError> {
    let listings = db
        .listings_by_ids(&run.seller_id, ids)
        .await
        .map_err(JobError::retry)?;
    let found: HashSet<&str> = listings.iter().map(|l| l.id.as_str()).collect();
    for id in ids.iter().filter(|id| !found.contains(id.as_str())) {
        db.settle_item(&run.id, id, ItemStatus::Failed, Some(DELETED), None)
            .await
            .map_err(JobError::retry)?;
    }
    Ok(listings)
}

/// Why one listing could not be exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemError {
    /// Not acceptable to the marketplace as it is: the item fails with this reason.
    Invalid(String),
    /// A passing failure: the chunk is retried.
    Transient(String),
}
