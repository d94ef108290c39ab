//! Etsy push: a listing becomes a draft listing (created once, updated on
//! later runs), its first ten photos uploaded in order, and its inventory
//! (SKU, price, quantity) set. Its Etsy category is the listing's
//! `etsy_taxonomy_id`, else the seller's category map, else Fleet's defaults
//! (a top-level node by name), checked against Etsy's live seller taxonomy
//! (read when the sink opens, kept by the process for an hour): an id Etsy
//! does not have fails the listing alone, before anything is sent;
//! when it was made is its `etsy_when_made`, else the connection's
//! `when_made`; `etsy_who_made` defaults to `someone_else`. Refreshed OAuth
//! tokens are sealed back into the connection.

use super::{
    chunk::{PushError, Pushed, Sink},
    listing::ExportListing,
};
use crate::Services;
use fleet_jobs::export::Marketplace;
use fleet_shared::{
    db::exports::RemoteRecord,
    export::{
        category_map::{CategoryMap, Resolved, Source, category_path},
        connection::{self, ConnectionFields},
        etsy::{self, EtsyClient, EtsyError, SellerTaxonomy, WHEN_MADE},
    },
    seal::Sealer,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Longest title Etsy takes.
const MAX_TITLE: usize = 140;
/// Most photos of an Etsy listing.
const MAX_IMAGES: usize = 10;
/// How often a refused refresh looks for the pair another worker stored (200 ms apart).
const ADOPT_POLLS: usize = 10;
/// Largest photo read from the blob store.
const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

/// One seller's Etsy shop, ready to take listings.
#[derive(Debug)]
pub struct EtsySink {
    client: EtsyClient,
    services: Services,
    sealer: Sealer,
    seller_id: String,
    fields: ConnectionFields,
    map: CategoryMap,
    taxonomy: Arc<SellerTaxonomy>,
}

impl From<EtsyError> for PushError {
    fn from(err: EtsyError) -> Self {
        match err {
            EtsyError::Unauthorized(_) => PushError::Stop(err.to_string()),
            EtsyError::Transient(_) => PushError::Transient(err.to_string()),
            EtsyError::Rejected(_) => PushError::Item(err.to_string()),
        }
    }
}

impl EtsySink {
    /// Reads the shop (proving key and tokens work) and Etsy's seller taxonomy;
    /// categories are mapped with `map`.
    pub async fn open(
        mut client: EtsyClient,
        services: Services,
        sealer: Sealer,
        seller_id: &str,
        fields: ConnectionFields,
        map: CategoryMap,
    ) -> Result<EtsySink, PushError> {
        let mut shop = client.shop().await;
        let mut sink = EtsySink {
            client,
            services,
            sealer,
            seller_id: seller_id.to_owned(),
            fields,
            map,
            taxonomy: Arc::default(),
        };
        sink.keep_refreshed_tokens().await?;
        if matches!(shop, Err(EtsyError::Unauthorized(_))) && sink.adopt_stored_tokens().await? {
            shop = sink.client.shop().await;
            sink.keep_refreshed_tokens().await?;
        }
        shop?;
        sink.taxonomy = sink.client.seller_taxonomy().await?;
        Ok(sink)
    }

    /// Etsy rotates the refresh token: when another worker refreshed first, ours
    /// is refused. Adopts the pair that worker stores (waiting a moment for it
    /// to land); false if none comes, and the refusal stands.
    async fn adopt_stored_tokens(&mut self) -> Result<bool, PushError> {
        for _ in 0..ADOPT_POLLS {
            let (_, stored) = connection::load(
                &self.services.db,
                &self.sealer,
                &self.seller_id,
                Marketplace::Etsy,
            )
            .await
            .map_err(|e| PushError::Transient(e.to_string()))?;
            let changed = ["access_token", "refresh_token"]
                .iter()
                .any(|name| stored.secret(name) != self.fields.secret(name));
            if changed {
                self.client.use_tokens(
                    stored.secret("access_token"),
                    stored.secret("refresh_token"),
                );
                self.fields = stored;
                return Ok(true);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        Ok(false)
    }

    /// Seals tokens a refresh produced into the connection, so the next chunk uses them.
    async fn keep_refreshed_tokens(&mut self) -> Result<(), PushError> {
        let Some(tokens) = self.client.take_refreshed() else {
            return Ok(());
        };
        tokens
            .store(
                &self.services.db,
                &self.sealer,
                &self.seller_id,
                &mut self.fields,
            )
            .await
            .map_err(|e| PushError::Transient(e.to_string()))
    }

    /// The listing's form fields for createDraftListing, or why Etsy could not take it.
    fn draft(&self, listing: &ExportListing) -> Result<(Map<String, Value>, String), String> {
        let r = &listing.record;
        if r.title.chars().count() > MAX_TITLE {
            return Err(format!(
                "the title is longer than Etsy's {MAX_TITLE} characters: shorten it"
            ));
        }
        if r.quantity < 1 {
            return Err("Etsy needs a quantity of at least 1".to_owned());
        }
        let (price, _) = listing.price()?;
        let attribute = |name: &str| {
            r.attributes.get(name).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let resolved = self
            .map
            .resolve(r.attributes.get("etsy_taxonomy_id"), r.category.as_deref())
            .map_err(|e| format!("Etsy needs its own category: {e}"))?;
        let taxonomy = self.taxonomy_id(&resolved)?;
        let when_made = match attribute("etsy_when_made") {
            Some(when) if WHEN_MADE.contains(&when.as_str()) => when,
            Some(when) => {
                return Err(format!(
                    "the attribute etsy_when_made is `{when}`, which Etsy does not take: use one of {}",
                    WHEN_MADE.join(", ")
                ));
            }
            None => self.fields.setting("when_made").map(str::to_owned).ok_or(
                "Etsy needs to know when the item was made: set when_made on the etsy connection \
                 (PUT /v1/connections/etsy, such as 2010_2019) or the listing attribute etsy_when_made",
            )?,
        };
        let mut tags: Vec<String> = [&r.brand, &r.colour, &r.size]
            .into_iter()
            .flatten()
            .map(|t| {
                t.chars()
                    .filter(|c| c.is_alphanumeric() || " -'".contains(*c))
                    .take(20)
                    .collect::<String>()
            })
            .filter(|t| !t.trim().is_empty())
            .collect();
        tags.truncate(13);
        let mut form = Map::new();
        form.insert("title".to_owned(), json!(r.title));
        form.insert(
            "description".to_owned(),
            json!(if r.description.is_empty() {
                &r.title
            } else {
                &r.description
            }),
        );
        form.insert("quantity".to_owned(), json!(r.quantity));
        form.insert("price".to_owned(), json!(price));
        form.insert(
            "who_made".to_owned(),
            json!(attribute("etsy_who_made").unwrap_or_else(|| "someone_else".to_owned())),
        );
        form.insert("when_made".to_owned(), json!(when_made));
        form.insert("taxonomy_id".to_owned(), json!(taxonomy));
        form.insert("type".to_owned(), json!("physical"));
        form.insert(
            "shipping_profile_id".to_owned(),
            json!(
                self.fields
                    .setting("shipping_profile_id")
                    .unwrap_or_default()
            ),
        );
        form.insert("tags".to_owned(), json!(tags));
        if let Some(material) = &r.material {
            form.insert("materials".to_owned(), json!([material]));
        }
        Ok((form, price))
    }

    /// The id Etsy's seller taxonomy has for `resolved` (an id it must have, or a
    /// default's top-level name), or why there is none, naming the fix.
    fn taxonomy_id(&self, resolved: &Resolved) -> Result<u64, String> {
        let target = &resolved.target;
        if let Ok(id) = target.parse::<u64>()
            && self.taxonomy.contains(id)
        {
            return Ok(id);
        }
        let fix = "set the listing attribute etsy_taxonomy_id to an id of Etsy's seller taxonomy, \
                   or map the category to one with PUT /v1/connections/etsy/category-map";
        match &resolved.source {
            Source::Default(category) if target.parse::<u64>().is_err() => {
                self.taxonomy.top_level(target).ok_or_else(|| {
                    format!(
                        "Etsy's seller taxonomy has no top-level category named \"{target}\" \
                         (Fleet's default for {}): {fix}",
                        category_path(category)
                    )
                })
            }
            source => {
                let from = match source {
                    Source::Attribute => "the listing attribute etsy_taxonomy_id".to_owned(),
                    Source::Override(category) => format!(
                        "the seller's category map entry for {}",
                        category_path(category)
                    ),
                    Source::Default(category) => {
                        format!("Fleet's default for {}", category_path(category))
                    }
                };
                Err(format!(
                    "Etsy's seller taxonomy has no category {target} (from {from}): {fix}"
                ))
            }
        }
    }

    /// Creates or updates the listing, then its photos and inventory.
    async fn send(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
    ) -> Result<Pushed, PushError> {
        let r = &listing.record;
        let (form, price) = self.draft(listing).map_err(PushError::Item)?;
        let id = match known {
            Some(k) => {
                // Price and quantity live in the inventory; the rest updates in place.
                let mut fields = form;
                fields.remove("price");
                fields.remove("quantity");
                self.client
                    .update_listing(&k.remote_id, etsy::form(&fields))
                    .await?;
                k.remote_id.clone()
            }
            None => {
                let id = self.client.create_draft(etsy::form(&form)).await?;
                // Found again if this chunk is redone after a crash: updated, not created twice.
                let remote = RemoteRecord {
                    listing_id: r.id.clone(),
                    remote_id: id.clone(),
                    handle: Some(r.sku.clone()),
                    content_hash: String::new(),
                };
                self.services
                    .db
                    .put_remote_listing(&r.seller_id, Marketplace::Etsy, &remote)
                    .await
                    .map_err(|e| PushError::Transient(e.to_string()))?;
                id
            }
        };
        for (rank, key) in listing.image_keys.iter().take(MAX_IMAGES).enumerate() {
            let bytes = self
                .services
                .blobs
                .get_bytes(key, MAX_IMAGE_BYTES)
                .await
                .map_err(|e| PushError::Transient(e.to_string()))?;
            let name = format!("{}-{}.jpg", r.sku, rank + 1);
            self.client
                .upload_image(&id, &name, bytes.to_vec(), rank + 1)
                .await?;
        }
        self.client
            .update_inventory(&id, etsy::inventory(&r.sku, &price, r.quantity))
            .await?;
        Ok(Pushed {
            remote_id: Some(id),
            handle: Some(r.sku.clone()),
            warning: None,
        })
    }
}

impl Sink for EtsySink {
    fn fingerprint(&self, listing: &ExportListing) -> String {
        self.draft(listing)
            .map(|(form, _)| Value::Object(form).to_string())
            .unwrap_or_default()
    }

    async fn push(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
        dry_run: bool,
    ) -> Result<Pushed, PushError> {
        if dry_run {
            self.draft(listing).map_err(PushError::Item)?;
            return Ok(Pushed {
                remote_id: known.map(|k| k.remote_id.clone()),
                handle: Some(listing.record.sku.clone()),
                warning: None,
            });
        }
        let mut sent = self.send(listing, known).await;
        self.keep_refreshed_tokens().await?;
        if matches!(sent, Err(PushError::Stop(_))) && self.adopt_stored_tokens().await? {
            // What the failed attempt created is recorded: read it again so it is updated.
            let r = &listing.record;
            let known = self
                .services
                .db
                .remote_listings(&r.seller_id, Marketplace::Etsy, std::slice::from_ref(&r.id))
                .await
                .map_err(|e| PushError::Transient(e.to_string()))?;
            sent = self.send(listing, known.get(&r.id)).await;
            self.keep_refreshed_tokens().await?;
        }
        sent
    }
}
