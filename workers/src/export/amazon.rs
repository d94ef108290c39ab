//! Amazon push: each listing becomes a `putListingsItem` under its SKU in the
//! connection's marketplaces, one attribute entry per marketplace (its
//! language tag, its currency); Amazon answers ACCEPTED, or INVALID with the
//! issues it found, which become the item's error. An offer is priced in one
//! currency, so a listing goes to the marketplaces selling in its currency;
//! the others are named in the item's warning, and a listing no marketplace
//! sells in fails with the fix. Its product type is the listing's
//! `amazon_product_type`, else the seller's category map, else Fleet's
//! defaults. File mode writes the same messages into a JSON_LISTINGS_FEED.

use super::{
    chunk::{PushError, Pushed, Sink},
    listing::ExportListing,
};
use fleet_shared::{
    db::{exports::RemoteRecord, listings::Condition},
    export::{
        amazon::{AmazonClient, AmazonError},
        amazon_marketplaces::AmazonMarketplace,
        category_map::CategoryMap,
    },
};
use serde_json::{Value, json};

/// One seller's Amazon listings, ready to take offers.
#[derive(Debug)]
pub struct AmazonSink {
    client: AmazonClient,
    markets: Vec<&'static AmazonMarketplace>,
    map: CategoryMap,
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
    /// Exchanges a first access token (proving the credentials) for `markets`, mapping categories with `map`.
    pub async fn open(
        mut client: AmazonClient,
        markets: Vec<&'static AmazonMarketplace>,
        map: CategoryMap,
    ) -> Result<AmazonSink, PushError> {
        client.access_token().await?;
        Ok(AmazonSink {
            client,
            markets,
            map,
        })
    }
}

impl Sink for AmazonSink {
    fn fingerprint(&self, listing: &ExportListing) -> String {
        offer(listing, &self.markets, &self.map)
            .map(|o| {
                format!(
                    "{} {} {}",
                    o.message["productType"].as_str().unwrap_or_default(),
                    o.message["requirements"].as_str().unwrap_or_default(),
                    o.marketplace_ids.join(",")
                )
            })
            .unwrap_or_default()
    }

    async fn push(
        &mut self,
        listing: &ExportListing,
        known: Option<&RemoteRecord>,
        dry_run: bool,
    ) -> Result<Pushed, PushError> {
        let Offer {
            mut message,
            marketplace_ids,
            left_out,
        } = offer(listing, &self.markets, &self.map).map_err(PushError::Item)?;
        let sku = listing.record.sku.clone();
        if dry_run {
            return Ok(Pushed {
                remote_id: known.map(|k| k.remote_id.clone()),
                handle: Some(sku),
                warning: left_out,
            });
        }
        if let Some(body) = message.as_object_mut() {
            body.remove("sku");
            body.remove("operationType");
        }
        let submission = self
            .client
            .put_listing(&sku, &marketplace_ids, &message)
            .await?;
        if submission.accepted() {
            Ok(Pushed {
                remote_id: Some(sku.clone()),
                handle: Some(sku),
                warning: left_out,
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

/// What Amazon is sent for one listing.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Offer {
    /// A JSON_LISTINGS_FEED message; without `sku` and `operationType`, the
    /// body of a `putListingsItem`.
    pub message: Value,
    /// The marketplaces it is for: those selling in the listing's currency.
    pub marketplace_ids: Vec<String>,
    /// The connection's other marketplaces, in plain words, if any.
    pub left_out: Option<String>,
}

/// Domains joined for a sentence (`amazon.de and amazon.fr`).
fn domains(markets: &[&AmazonMarketplace]) -> String {
    let names: Vec<&str> = markets.iter().map(|m| m.domain).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// The listing as a Listings Items API message for those of `markets` that sell
/// in its currency, its product type from `map`; Err says why it cannot be offered.
pub(super) fn offer(
    l: &ExportListing,
    markets: &[&'static AmazonMarketplace],
    map: &CategoryMap,
) -> Result<Offer, String> {
    let r = &l.record;
    let (price, currency) = l.price()?;
    let amount: serde_json::Number = price.parse().map_err(|_| format!("price {price}"))?;
    let (selling, others): (Vec<&AmazonMarketplace>, Vec<&AmazonMarketplace>) = markets
        .iter()
        .copied()
        .partition(|m| m.currency == currency);
    if selling.is_empty() {
        let theirs: Vec<&str> = others.iter().map(|m| m.currency).collect();
        return Err(match theirs.first() {
            Some(first) => format!(
                "priced in {currency}, but {} sell{} in {}: set the price in {first} to offer it there",
                domains(&others),
                if others.len() == 1 { "s" } else { "" },
                dedup(&theirs).join(" and "),
            ),
            None => "the amazon connection names no marketplace: put it again with marketplace_ids"
                .to_owned(),
        });
    }
    let left_out = (!others.is_empty()).then(|| {
        format!(
            "not offered on {}: priced in {currency}, and {} in {}",
            domains(&others),
            if others.len() == 1 {
                "it sells"
            } else {
                "they sell"
            },
            dedup(&others.iter().map(|m| m.currency).collect::<Vec<_>>()).join(" and "),
        )
    });
    let text = |name: &str| r.attributes.get(name).and_then(Value::as_str);
    let per_market = |entry: &dyn Fn(&AmazonMarketplace) -> Value| -> Value {
        Value::Array(selling.iter().map(|m| entry(m)).collect())
    };
    let localized = |value: &str| {
        per_market(
            &|m| json!({"value": value, "language_tag": m.language_tag, "marketplace_id": m.id}),
        )
    };
    let mut attributes = json!({
        "item_name": localized(&r.title),
        "product_description": localized(&r.description),
        "condition_type": per_market(&|m| json!({"value": amazon_condition(r.condition), "marketplace_id": m.id})),
        "purchasable_offer": per_market(&|m| json!({
            "currency": m.currency, "marketplace_id": m.id,
            "our_price": [{"schedule": [{"value_with_tax": amount}]}],
        })),
        "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": r.quantity}],
    });
    if let Some(brand) = &r.brand {
        attributes["brand"] = localized(brand);
    }
    for (i, url) in l.image_urls.iter().take(9).enumerate() {
        let name = if i == 0 {
            "main_product_image_locator".to_owned()
        } else {
            format!("other_product_image_locator_{i}")
        };
        attributes[name] = per_market(&|m| json!({"media_location": url, "marketplace_id": m.id}));
    }
    let mut offer_only = false;
    if let Some(asin) = text("asin") {
        attributes["merchant_suggested_asin"] =
            per_market(&|m| json!({"value": asin, "marketplace_id": m.id}));
        offer_only = true;
    }
    for kind in ["ean", "upc", "gtin", "isbn"] {
        if let Some(code) = text(kind) {
            attributes["externally_assigned_product_identifier"] =
                per_market(&|m| json!({"type": kind, "value": code, "marketplace_id": m.id}));
            offer_only = true;
        }
    }
    let product_type = match map.resolve(
        r.attributes.get("amazon_product_type"),
        r.category.as_deref(),
    ) {
        Ok(resolved) => resolved.target,
        // An offer on a catalogue product takes the catalogue's type: Amazon's generic one will do.
        Err(e) if offer_only && e.is_missing() => "PRODUCT".to_owned(),
        Err(e) => return Err(e.to_string()),
    };
    Ok(Offer {
        message: json!({
            "sku": r.sku,
            "operationType": "UPDATE",
            "productType": product_type,
            // A listing of a catalogue product (ASIN or barcode given) needs only the offer.
            "requirements": if offer_only { "LISTING_OFFER_ONLY" } else { "LISTING" },
            "attributes": attributes,
        }),
        marketplace_ids: selling.iter().map(|m| m.id.to_owned()).collect(),
        left_out,
    })
}

/// `items` without repeats, in order.
fn dedup<'a>(items: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_jobs::export::Marketplace;
    use fleet_shared::{
        db::listings::ListingRecord,
        export::amazon_marketplaces::{self, AmazonMarketplace},
    };

    fn listing(currency: &str, category: Option<&str>, attributes: Value) -> ExportListing {
        ExportListing {
            record: ListingRecord {
                id: "l1".to_owned(),
                seller_id: "s1".to_owned(),
                sku: "SKU-1".to_owned(),
                title: "Wool coat".to_owned(),
                description: "Warm".to_owned(),
                price_minor: Some(4_990),
                currency: Some(currency.to_owned()),
                quantity: 1,
                condition: Condition::Good,
                brand: Some("Acme".to_owned()),
                size: None,
                colour: None,
                material: None,
                category: category.map(|c| format!("gid://shopify/TaxonomyCategory/{c}")),
                category_source: None,
                category_suggestions: None,
                images: Vec::new(),
                attributes: attributes.as_object().cloned().unwrap_or_default(),
                created_at: 0,
                updated_at: 0,
            },
            image_urls: vec!["https://blobs.example/1.jpg".to_owned()],
            image_keys: Vec::new(),
        }
    }

    fn markets(ids: &[&str]) -> Vec<&'static AmazonMarketplace> {
        let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        amazon_marketplaces::resolve(&ids, None).unwrap()
    }

    #[test]
    fn one_entry_per_marketplace_in_its_language_and_currency() {
        let map = CategoryMap::defaults_only(Marketplace::Amazon);
        let de_fr_uk = markets(&["A1PA6795UKMFR9", "A13V1IB3VIYZZH", "A1F83G8C2ARO7P"]);
        let offer = offer(
            &listing("EUR", Some("aa-1-10-2"), json!({})),
            &de_fr_uk,
            &map,
        )
        .unwrap();
        assert_eq!(offer.marketplace_ids, ["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]);
        assert_eq!(
            offer.left_out.as_deref(),
            Some("not offered on amazon.co.uk: priced in EUR, and it sells in GBP")
        );
        let m = &offer.message;
        assert_eq!(m["productType"], "COAT");
        assert_eq!(m["requirements"], "LISTING");
        let names = m["attributes"]["item_name"].as_array().unwrap();
        assert_eq!(names[0]["language_tag"], "de_DE");
        assert_eq!(names[1]["language_tag"], "fr_FR");
        assert_eq!(names[1]["marketplace_id"], "A13V1IB3VIYZZH");
        let offers = m["attributes"]["purchasable_offer"].as_array().unwrap();
        assert_eq!(offers.len(), 2);
        assert!(offers.iter().all(|o| o["currency"] == "EUR"));
        assert_eq!(
            m["attributes"]["main_product_image_locator"][1]["marketplace_id"],
            "A13V1IB3VIYZZH"
        );
    }

    #[test]
    fn a_currency_no_marketplace_sells_in_fails_with_the_fix() {
        let map = CategoryMap::defaults_only(Marketplace::Amazon);
        let err = offer(
            &listing("USD", Some("aa-8"), json!({})),
            &markets(&["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]),
            &map,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "priced in USD, but amazon.de and amazon.fr sell in EUR: set the price in EUR to offer it there"
        );
    }

    #[test]
    fn product_type_from_attribute_map_or_generic_for_catalogue_offers() {
        let de = markets(&["A1PA6795UKMFR9"]);
        let map = CategoryMap::new(
            Marketplace::Amazon,
            [("aa-8".to_owned(), "BOOT".to_owned())],
        );
        let typed =
            |l: &ExportListing| offer(l, &de, &map).map(|o| o.message["productType"].clone());
        assert_eq!(
            typed(&listing("EUR", Some("aa-8-3"), json!({}))),
            Ok(json!("BOOT"))
        );
        assert_eq!(
            typed(&listing(
                "EUR",
                Some("aa-8-3"),
                json!({"amazon_product_type": "SANDAL"})
            )),
            Ok(json!("SANDAL"))
        );
        assert_eq!(
            typed(&listing("EUR", None, json!({"ean": "4006381333931"}))),
            Ok(json!("PRODUCT"))
        );
        let missing = typed(&listing("EUR", None, json!({}))).unwrap_err();
        assert!(missing.contains("amazon_product_type"), "{missing}");
        let bad = typed(&listing(
            "EUR",
            None,
            json!({"amazon_product_type": "boots", "ean": "1"}),
        ))
        .unwrap_err();
        assert!(bad.contains("upper-case"), "{bad}");
    }
}
