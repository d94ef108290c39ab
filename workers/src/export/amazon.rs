//! Amazon push: each listing becomes a `putListingsItem` under its SKU in the
//! connection's marketplaces; Amazon answers ACCEPTED, or INVALID with the
//! issues it found, which become the item's error. File mode writes the same
//! messages into a JSON_LISTINGS_FEED.

use super::{
    chunk::{PushError, Pushed, Sink},
    listing::ExportListing,
};
use fleet_shared::{
    db::{exports::RemoteRecord, listings::Condition},
    export::amazon::{AmazonClient, AmazonError},
};
use serde_json::{Value, json};

/// One seller's Amazon listings, ready to take offers.
#[derive(Debug)]
pub struct AmazonSink {
    client: AmazonClient,
    marketplace_ids: Vec<String>,
}

impl From<AmazonError> for PushError {
    fn from(err: AmazonError) -> Self {
        match err {
            AmazonError::Unauthorized(_) => PushError::Stop(err.to_string()),
            AmazonError::Transient(_) => PushError::Transient(err.to_string()),
            AmazonError::Rejected(_) => PushError::Item(err.to_string()),
        }
    }
}

impl AmazonSink {
    /// Exchanges a first access token (proving the credentials) for `marketplace_ids`.
    pub async fn open(
        mut client: AmazonClient,
        marketplace_ids: Vec<String>,
    ) -> Result<AmazonSink, PushError> {
        client.access_token().await?;
        Ok(AmazonSink {
            client,
            marketplace_ids,
        })
    }
}

impl Sink for AmazonSink {
    async fn push(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
        dry_run: bool,
    ) -> Result<Pushed, PushError> {
        let first = self
            .marketplace_ids
            .first()
            .map(String::as_str)
            .unwrap_or_default();
        let mut message = listing_message(listing, first).map_err(PushError::Item)?;
        let sku = listing.record.sku.clone();
        if dry_run {
            return Ok(Pushed {
                remote_id: known.map(|k| k.remote_id.clone()),
                handle: Some(sku),
            });
        }
        if let Some(body) = message.as_object_mut() {
            body.remove("sku");
            body.remove("operationType");
        }
        let submission = self
            .client
            .put_listing(&sku, &self.marketplace_ids, &message)
            .await?;
        if submission.accepted() {
            Ok(Pushed {
                remote_id: Some(sku.clone()),
                handle: Some(sku),
            })
        } else {
            Err(PushError::Item(format!(
                "Amazon found it invalid: {}",
                submission.issues.join("; ")
            )))
        }
    }
}

fn amazon_condition(c: Condition) -> &'static str {
    match c {
        Condition::New => "new_new",
        Condition::LikeNew => "used_like_new",
        Condition::Good => "used_good",
        Condition::Fair | Condition::Poor => "used_acceptable",
    }
}

/// The listing as Listings Items API attributes for `marketplace_id`, with its
/// product type and requirements: a JSON_LISTINGS_FEED message, and the body
/// of a `putListingsItem` without `sku` and `operationType`.
pub(super) fn listing_message(l: &ExportListing, marketplace_id: &str) -> Result<Value, String> {
    let r = &l.record;
    let (price, currency) = l.price()?;
    let amount: serde_json::Number = price.parse().map_err(|_| format!("price {price}"))?;
    let m = marketplace_id;
    let mut attributes = json!({
        "item_name": [{"value": r.title, "language_tag": "en_US", "marketplace_id": m}],
        "product_description": [{"value": r.description, "language_tag": "en_US", "marketplace_id": m}],
        "condition_type": [{"value": amazon_condition(r.condition), "marketplace_id": m}],
        "purchasable_offer": [{
            "currency": currency, "marketplace_id": m,
            "our_price": [{"schedule": [{"value_with_tax": amount}]}],
        }],
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": r.quantity}],
    });
    if let Some(brand) = &r.brand {
        attributes["brand"] =
            json!([{"value": brand, "language_tag": "en_US", "marketplace_id": m}]);
    }
    for (i, url) in l.image_urls.iter().take(9).enumerate() {
        let name = if i == 0 {
            "main_product_image_locator".to_owned()
        } else {
            format!("other_product_image_locator_{i}")
        };
        attributes[name] = json!([{"media_location": url, "marketplace_id": m}]);
    }
    let text = |name: &str| r.attributes.get(name).and_then(Value::as_str);
    let mut offer_only = false;
    if let Some(asin) = text("asin") {
        attributes["merchant_suggested_asin"] = json!([{"value": asin, "marketplace_id": m}]);
        offer_only = true;
    }
    for kind in ["ean", "upc", "gtin", "isbn"] {
        if let Some(code) = text(kind) {
            attributes["externally_assigned_product_identifier"] =
                json!([{"type": kind, "value": code, "marketplace_id": m}]);
            offer_only = true;
        }
    }
    Ok(json!({
        "sku": r.sku,
        "operationType": "UPDATE",
        // A listing of a catalogue product (ASIN or barcode given) needs only the offer.
        "productType": text("amazon_product_type").unwrap_or("PRODUCT"),
        "requirements": if offer_only { "LISTING_OFFER_ONLY" } else { "LISTING" },
        "attributes": attributes,
    }))
}
