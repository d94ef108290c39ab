//! Amazon push: each listing becomes a `putListingsItem` under its SKU in the
//! connection's marketplaces, one attribute entry per marketplace (its
//! language tag, its currency); Amazon answers ACCEPTED, or INVALID with the
//! issues it found, which become the item's error. An offer is priced in one
//! currency, so a listing goes to the marketplaces selling in its currency;
//! the others are named in the item's warning, and a listing no marketplace
//! sells in fails with the fix. Its product type is the listing's
//! `amazon_product_type`, else the seller's category map, else Fleet's
//! defaults, checked against the product types Amazon offers the seller in
//! those marketplaces (read when the sink opens, kept by the process for an
//! hour): a default Amazon does not offer falls back to the nearest ancestor
//! default it offers, else `PRODUCT`, with a warning; a type the listing or
//! the seller's map chose that Amazon does not offer fails the listing alone.
//! File mode writes the same messages (unchecked: it has no live connection)
//! into a JSON_LISTINGS_FEED.

use super::{
    chunk::{PushError, Pushed, Sink},
    listing::ExportListing,
};
use fleet_jobs::export::Marketplace;
use fleet_shared::{
    db::{exports::RemoteRecord, listings::Condition},
    export::{
        amazon::{AmazonClient, AmazonError, ProductTypes},
        amazon_marketplaces::AmazonMarketplace,
        category_map::{CategoryMap, Source, category_path, default_ancestors},
    },
};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc};

/// Amazon's generic product type, taken everywhere.
const GENERIC: &str = "PRODUCT";

/// The product types Amazon offers the seller, by marketplace id.
pub(super) type Offered = HashMap<String, Arc<ProductTypes>>;

/// One seller's Amazon listings, ready to take offers.
#[derive(Debug)]
pub struct AmazonSink {
    client: AmazonClient,
    markets: Vec<&'static AmazonMarketplace>,
    map: CategoryMap,
    offered: Offered,
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
    /// Exchanges a first access token (proving the credentials) for `markets`
    /// and reads the product types Amazon offers in each; categories are mapped with `map`.
    pub async fn open(
        mut client: AmazonClient,
        markets: Vec<&'static AmazonMarketplace>,
        map: CategoryMap,
    ) -> Result<AmazonSink, PushError> {
        client.access_token().await?;
        let mut offered = Offered::new();
        for market in &markets {
            offered.insert(market.id.to_owned(), client.product_types(market.id).await?);
        }
        Ok(AmazonSink {
            client,
            markets,
            map,
            offered,
        })
    }
}

impl Sink for AmazonSink {
    fn fingerprint(&self, listing: &ExportListing) -> String {
        offer(listing, &self.markets, &self.map, Some(&self.offered))
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
            warning,
        } = offer(listing, &self.markets, &self.map, Some(&self.offered))
            .map_err(PushError::Item)?;
        let sku = listing.record.sku.clone();
        if dry_run {
            return Ok(Pushed {
                remote_id: known.map(|k| k.remote_id.clone()),
                handle: Some(sku),
                warning: warning.clone(),
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
                warning,
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
    /// What the item's warning says, if anything: the connection's other
    /// marketplaces, a default product type Amazon does not offer.
    pub warning: Option<String>,
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
/// in its currency, its product type from `map` (checked against `offered`, the
/// types Amazon offers, when known); Err says why it cannot be offered.
pub(super) fn offer(
    l: &ExportListing,
    markets: &[&'static AmazonMarketplace],
    map: &CategoryMap,
    offered: Option<&Offered>,
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
    let resolved = match map.resolve(
        r.attributes.get("amazon_product_type"),
        r.category.as_deref(),
    ) {
        Ok(resolved) => Some(resolved),
        // An offer on a catalogue product takes the catalogue's type: Amazon's generic one will do.
        Err(e) if offer_only && e.is_missing() => None,
        Err(e) => return Err(e.to_string()),
    };
    let mut warnings: Vec<String> = left_out.into_iter().collect();
    let product_type = match (resolved, offered) {
        (None, _) => GENERIC.to_owned(),
        (Some(resolved), None) => resolved.target,
        (Some(resolved), Some(offered)) => {
            // Offered in every marketplace the listing goes to.
            let refusing = |product_type: &str| -> Vec<&AmazonMarketplace> {
                selling
                    .iter()
                    .copied()
                    .filter(|m| {
                        product_type != GENERIC
                            && offered
                                .get(m.id)
                                .is_some_and(|types| !types.offers(product_type))
                    })
                    .collect()
            };
            let target = resolved.target;
            let missing = refusing(&target);
            if missing.is_empty() {
                target
            } else {
                let missing = domains(&missing);
                match resolved.source {
                    Source::Default(category) => {
                        let (fallback, from) = default_ancestors(Marketplace::Amazon, &category)
                            .find(|(_, t)| refusing(t).is_empty())
                            .map_or((GENERIC, None), |(c, t)| (t, Some(c)));
                        let from = match from {
                            Some(c) => format!("Fleet's default for {}", category_path(c)),
                            None => "Amazon's generic type".to_owned(),
                        };
                        warnings.push(format!(
                            "sent as product type {fallback} ({from}): Amazon does not offer \
                             {target}, Fleet's default for {}, on {missing}; map the category \
                             with PUT /v1/connections/amazon/category-map for a more specific type",
                            category_path(&category)
                        ));
                        fallback.to_owned()
                    }
                    Source::Attribute => {
                        return Err(format!(
                            "Amazon does not offer the product type {target} (the listing \
                             attribute amazon_product_type) on {missing}: set amazon_product_type \
                             to a product type Amazon offers there, or remove it to use the \
                             seller's category map"
                        ));
                    }
                    Source::Override(category) => {
                        return Err(format!(
                            "Amazon does not offer the product type {target} (the seller's \
                             category map entry for {}) on {missing}: map the category to a \
                             product type Amazon offers with PUT \
                             /v1/connections/amazon/category-map, or set the listing attribute \
                             amazon_product_type",
                            category_path(&category)
                        ));
                    }
                }
            }
        }
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
        warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
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
            None,
        )
        .unwrap();
        assert_eq!(offer.marketplace_ids, ["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]);
        assert_eq!(
            offer.warning.as_deref(),
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
            None,
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
            |l: &ExportListing| offer(l, &de, &map, None).map(|o| o.message["productType"].clone());
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

    #[test]
    fn types_amazon_does_not_offer_fall_back_or_fail() {
        let de_fr = markets(&["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]);
        let types = |market: &str, names: &[&str]| {
            let list: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
            Arc::new(ProductTypes::from_answer(market, &json!({"productTypes": list})).unwrap())
        };
        let offered: Offered = [
            (
                "A1PA6795UKMFR9".to_owned(),
                types("A1PA6795UKMFR9", &["SHIRT", "SWEATER", "COAT"]),
            ),
            (
                "A13V1IB3VIYZZH".to_owned(),
                types("A13V1IB3VIYZZH", &["SHIRT", "COAT"]),
            ),
        ]
        .into();
        let map = CategoryMap::new(
            Marketplace::Amazon,
            [("aa-1-10".to_owned(), "SWEATER".to_owned())],
        );
        let sent = |l: &ExportListing| offer(l, &de_fr, &map, Some(&offered));
        // Cardigans default to SWEATER, which amazon.fr does not offer: their tops' SHIRT.
        let cardigan = sent(&listing("EUR", Some("aa-1-13-3"), json!({}))).unwrap();
        assert_eq!(cardigan.message["productType"], "SHIRT");
        let warning = cardigan.warning.unwrap();
        assert!(
            warning.contains("SWEATER") && warning.contains("amazon.fr"),
            "{warning}"
        );
        // Digital cameras: no ancestor type offered, Amazon's generic one.
        let camera = sent(&listing("EUR", Some("co-2-2"), json!({}))).unwrap();
        assert_eq!(camera.message["productType"], "PRODUCT");
        // Offered everywhere: no warning.
        let tee = sent(&listing("EUR", Some("aa-1-13-8"), json!({}))).unwrap();
        assert_eq!(
            (tee.message["productType"].as_str(), tee.warning),
            (Some("SHIRT"), None)
        );
        // The seller's map and the attribute fail instead, naming the fix.
        let coat = sent(&listing("EUR", Some("aa-1-10-2"), json!({}))).unwrap_err();
        assert!(
            coat.contains("SWEATER") && coat.contains("/v1/connections/amazon/category-map"),
            "{coat}"
        );
        let own = sent(&listing(
            "EUR",
            Some("aa-1-13-8"),
            json!({"amazon_product_type": "KIMONO"}),
        ))
        .unwrap_err();
        assert!(
            own.contains("KIMONO") && own.contains("amazon_product_type"),
            "{own}"
        );
    }
}
