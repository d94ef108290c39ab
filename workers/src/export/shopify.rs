//! Shopify push: a listing becomes one product set by `productSet`, upserted by
//! a handle fixed at its first export, so a retried or crashed chunk updates
//! the product it already created instead of making a second one.

use super::{
    chunk::{PushError, Pushed, Sink},
    listing::ExportListing,
};
use fleet_shared::{
    db::exports::RemoteRecord,
    db::listings::ListingRecord,
    export::shopify::{ProductSetOutcome, ShopInfo, ShopifyClient, ShopifyError},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Longest product title Shopify takes.
const MAX_TITLE: usize = 255;

/// One seller's shop, ready to take products.
#[derive(Debug)]
pub struct ShopifySink {
    client: ShopifyClient,
    shop: ShopInfo,
}

impl From<ShopifyError> for PushError {
    fn from(err: ShopifyError) -> Self {
        match err {
            ShopifyError::Unauthorized(_) => PushError::Stop(err.to_string()),
            ShopifyError::Transient(_) => PushError::Transient(err.to_string()),
            ShopifyError::Rejected(_) => PushError::Item(err.to_string()),
        }
    }
}

impl ShopifySink {
    /// Reads the shop's currency and primary location (`location_id` overrides it).
    pub async fn open(
        mut client: ShopifyClient,
        location_id: Option<&str>,
    ) -> Result<ShopifySink, PushError> {
        let mut shop = client.shop().await?;
        if let Some(location) = location_id {
            shop.location_id = location.to_owned();
        }
        Ok(ShopifySink { client, shop })
    }

    /// The `ProductSetInput` for `listing`, or why Shopify could not take it.
    pub fn input(&self, listing: &ExportListing, handle: &str) -> Result<Value, String> {
        let r = &listing.record;
        if r.title.chars().count() > MAX_TITLE {
            return Err(format!(
                "the title is longer than Shopify's {MAX_TITLE} characters: shorten it"
            ));
        }
        let (price, currency) = listing.price()?;
        if currency != self.shop.currency {
            return Err(format!(
                "priced in {currency}, but the shop sells in {}: set the price in {}",
                self.shop.currency, self.shop.currency
            ));
        }
        let mut options: Vec<(&str, &str)> = Vec::new();
        if let Some(size) = &r.size {
            options.push(("Size", size));
        }
        if let Some(colour) = &r.colour {
            options.push(("Color", colour));
        }
        if options.is_empty() {
            options.push(("Title", "Default Title"));
        }
        let mut tags = vec![format!("condition:{}", r.condition.as_str())];
        if let Some(material) = &r.material {
            tags.push(format!("material:{material}"));
        }
        let mut input = json!({
            "handle": handle,
            "title": r.title,
            "descriptionHtml": description_html(&r.description),
            "status": "ACTIVE",
            "tags": tags,
            "productOptions": options.iter().map(|(name, value)| json!({
                "name": name, "values": [{"name": value}],
            })).collect::<Vec<_>>(),
            "variants": [{
                "optionValues": options.iter().map(|(name, value)| json!({
                    "optionName": name, "name": value,
                })).collect::<Vec<_>>(),
                "sku": r.sku,
                "price": price,
                "inventoryQuantities": [{
                    "locationId": self.shop.location_id,
                    "name": "available",
                    "quantity": r.quantity,
                }],
            }],
            "files": listing.image_urls.iter().map(|url| json!({
                "originalSource": url, "contentType": "IMAGE", "alt": r.title,
            })).collect::<Vec<_>>(),
        });
        if let Some(brand) = &r.brand {
            input["vendor"] = json!(brand);
        }
        if let Some(category) = &r.category {
            input["category"] = json!(category);
        }
        Ok(input)
    }
}

impl Sink for ShopifySink {
    async fn push(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
        dry_run: bool,
    ) -> Result<Pushed, PushError> {
        let handle = known
            .and_then(|k| k.handle.clone())
            .unwrap_or_else(|| handle(&listing.record));
        let input = self.input(listing, &handle).map_err(PushError::Item)?;
        if dry_run {
            return Ok(Pushed {
                remote_id: known.map(|k| k.remote_id.clone()),
                handle: Some(handle),
                warning: None,
            });
        }
        match self.client.product_set(&handle, &input).await? {
            ProductSetOutcome::Stored(id) => Ok(Pushed {
                remote_id: Some(id),
                handle: Some(handle),
                warning: None,
            }),
            ProductSetOutcome::Refused(reason) => {
                Err(PushError::Item(format!("Shopify refused it: {reason}")))
            }
        }
    }
}

/// The handle of a listing never exported: its SKU made URL-safe, plus a short
/// hash of the listing id (two sellers' SKUs never collide). Push and the
/// product CSV use the same one, so an imported product is updated by a push.
pub(super) fn handle(r: &ListingRecord) -> String {
    let mut slug = String::new();
    for c in r.sku.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(60).collect();
    let tag = &hex::encode(Sha256::digest(r.id.as_bytes()))[..8];
    if slug.is_empty() {
        format!("item-{tag}")
    } else {
        format!("{slug}-{tag}")
    }
}

/// Plain text as HTML paragraphs, escaped.
pub(super) fn description_html(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let escaped = p
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\n', "<br>");
            format!("<p>{escaped}</p>")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_escaped_paragraphs() {
        assert_eq!(
            description_html("Blue <b>shirt</b> & tie\nline two\n\nsecond"),
            "<p>Blue &lt;b&gt;shirt&lt;/b&gt; &amp; tie<br>line two</p><p>second</p>"
        );
        assert_eq!(description_html("  "), "");
    }
}
