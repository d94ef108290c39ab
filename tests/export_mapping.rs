//! Category mapping and Amazon marketplaces in exports, end to end on both
//! backends against the strict Etsy and Amazon fakes: Fleet's default
//! mapping reaches the marketplace, a seller's override beats it, a listing
//! attribute beats both, one seller's map never touches another's, the map
//! API refuses what it cannot use, a listing with no mappable category
//! fails alone (dry runs report it without sending); Etsy's `when_made`
//! comes from the connection unless the listing says otherwise; Amazon
//! listings go to every connected marketplace selling in their currency.
//! Targets are checked against the marketplaces' live taxonomies: Etsy
//! defaults resolve by name to the fake's ids, an Etsy id or Amazon type the
//! marketplace does not have fails its listing alone, an Amazon default it
//! does not offer falls back with a warning, and both lookups are made once
//! per process, not per listing or chunk.

use fleet_jobs::WorkerKind;
use fleet_shared::db::api_keys::Role;
use fleet_testkit::{Backend, amazon::FakeAmazon, etsy::FakeEtsy, platform::Platform};
use serde_json::{Value, json};

const GID: &str = "gid://shopify/TaxonomyCategory/";
const DE: &str = "A1PA6795UKMFR9";
const FR: &str = "A13V1IB3VIYZZH";
const UK: &str = "A1F83G8C2ARO7P";

/// Pushes `skus` of the seller behind `key` to `marketplace` and waits for the run.
async fn push(
    p: &Platform,
    key: &str,
    marketplace: &str,
    ids: &[String],
    dry_run: bool,
) -> (String, Value) {
    let (status, run) = p
        .call(
            "POST",
            "/v1/exports",
            key,
            Some(json!({"marketplace": marketplace, "listings": {"ids": ids}, "mode": "push", "dry_run": dry_run})),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_str().unwrap().to_owned();
    let done = p.export_finished(key, &id).await;
    (id, done)
}

/// Each item of run `id`, by SKU.
async fn items(p: &Platform, key: &str, id: &str) -> std::collections::HashMap<String, Value> {
    let (status, page) = p
        .call(
            "GET",
            &format!("/v1/exports/{id}/items?limit=500"),
            key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["sku"].as_str().unwrap().to_owned(), i.clone()))
        .collect()
}

/// Upserts `listings` for the seller behind `key`; their ids in order.
async fn listings(p: &Platform, key: &str, listings: Vec<Value>) -> Vec<String> {
    let (status, batch) = p
        .call(
            "POST",
            "/v1/listings:batch",
            key,
            Some(json!({"listings": listings})),
        )
        .await;
    assert_eq!(status, 200, "{batch}");
    batch["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

fn listing(sku: &str, category: Option<&str>, attributes: Value, currency: &str) -> Value {
    let mut l = json!({"sku": sku, "title": format!("Item {sku}"), "description": "Gently used",
        "price": 2500, "currency": currency, "quantity": 1, "condition": "good", "brand": "Acme",
        "attributes": attributes});
    if let Some(category) = category {
        l["category"] = json!(format!("{GID}{category}"));
    }
    l
}

/// The map API's 422 for `body` names `field`.
async fn refused(p: &Platform, key: &str, marketplace: &str, body: Value, field: &str) {
    let (status, err) = p
        .call(
            "PUT",
            &format!("/v1/connections/{marketplace}/category-map"),
            key,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 422, "{body}: {err}");
    assert_eq!(err["error"]["code"], "invalid_fields", "{err}");
    let fields = err["error"]["details"]["fields"].as_array().unwrap();
    assert!(
        fields.iter().any(|f| f["field"] == field),
        "{field} named in {err}"
    );
}

async fn etsy_mapping(backend: Backend) {
    let etsy = FakeEtsy::start(20.0, 10_000);
    let (base, token_url) = (etsy.api_base.clone(), etsy.token_url.clone());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.etsy_api_base = base;
            c.export.etsy_token_url = token_url;
        })
        .start()
        .await;
    let s1 = p.key(Role::Seller, Some("s1")).await;
    let s2 = p.key(Role::Seller, Some("s2")).await;
    let mut conn = etsy.connection();
    conn["when_made"] = json!("last_year");
    let (status, err) = p
        .call("PUT", "/v1/connections/etsy", &s1, Some(conn.clone()))
        .await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err.to_string().contains("2010_2019"),
        "names Etsy's values: {err}"
    );
    conn["when_made"] = json!("2010_2019");
    for key in [&s1, &s2] {
        let (status, view) = p
            .call("PUT", "/v1/connections/etsy", key, Some(conn.clone()))
            .await;
        assert_eq!(status, 200, "{view}");
        assert_eq!(view["settings"]["when_made"], "2010_2019");
    }

    // The map API: validated, seller-scoped, paginated.
    let tops = format!("{GID}aa-1-13");
    refused(
        &p,
        &s1,
        "ebay",
        json!({"entries": [{"category": tops, "taxonomy_id": 1}]}),
        "marketplace",
    )
    .await;
    refused(
        &p,
        &s1,
        "shopify",
        json!({"entries": [{"category": tops, "taxonomy_id": 1}]}),
        "marketplace",
    )
    .await;
    refused(&p, &s1, "etsy", json!({"entries": []}), "entries").await;
    refused(
        &p,
        &s1,
        "etsy",
        json!({"entries": [{"category": format!("{GID}zz-9"), "taxonomy_id": 1}]}),
        "entries[0].category",
    )
    .await;
    refused(
        &p,
        &s1,
        "etsy",
        json!({"entries": [{"category": tops, "taxonomy_id": "shirts"}]}),
        "entries[0].taxonomy_id",
    )
    .await;
    refused(
        &p,
        &s1,
        "etsy",
        json!({"entries": [{"category": tops, "taxonomy_id": -4}]}),
        "entries[0].taxonomy_id",
    )
    .await;
    refused(
        &p,
        &s1,
        "etsy",
        json!({"entries": [{"category": tops}]}),
        "entries[0].taxonomy_id",
    )
    .await;
    refused(
        &p,
        &s1,
        "etsy",
        json!({"entries": [{"category": tops, "taxonomy_id": 12, "product_type": "SHIRT"}]}),
        "entries[0].product_type",
    )
    .await;
    let (status, stored) = p
        .call(
            "PUT",
            "/v1/connections/etsy/category-map",
            &s1,
            Some(json!({"entries": [
                {"category": tops, "taxonomy_id": 2031},
                {"category": "aa-8", "taxonomy_id": "1430"},
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored[1]["category"], format!("{GID}aa-8"));
    assert_eq!(stored[1]["taxonomy_id"], 1430);
    assert_eq!(
        stored[0]["category_path"],
        "Apparel & Accessories > Clothing > Clothing Tops"
    );
    let (_, page) = p
        .call(
            "GET",
            "/v1/connections/etsy/category-map?limit=1",
            &s1,
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = p
        .call(
            "GET",
            &format!("/v1/connections/etsy/category-map?limit=1&cursor={cursor}"),
            &s1,
            None,
        )
        .await;
    assert_eq!(next["items"].as_array().unwrap().len(), 1, "{next}");
    assert_eq!(next["next_cursor"], Value::Null);
    let (_, theirs) = p
        .call("GET", "/v1/connections/etsy/category-map", &s2, None)
        .await;
    assert_eq!(theirs["items"], json!([]), "another seller sees none of it");
    let (status, _) = p
        .call(
            "DELETE",
            "/v1/connections/etsy/category-map/aa-8",
            &s2,
            None,
        )
        .await;
    assert_eq!(status, 404, "nor deletes it");
    let (_, resolved) = p
        .call(
            "GET",
            &format!("/v1/connections/etsy/category-map/resolve?category={GID}aa-1-13-8"),
            &s1,
            None,
        )
        .await;
    assert_eq!(resolved["taxonomy_id"], 2031, "{resolved}");
    assert_eq!(resolved["source"], "override");
    assert_eq!(resolved["matched"], tops);
    let (_, resolved) = p
        .call(
            "GET",
            "/v1/connections/etsy/category-map/resolve?category=aa-1-13-8",
            &s2,
            None,
        )
        .await;
    assert_eq!(resolved["taxonomy_id"], 374, "{resolved}");
    assert_eq!(resolved["taxonomy_name"], "Clothing", "{resolved}");
    assert_eq!(resolved["source"], "default");

    // s1: default (jewelry), override (tops), attribute over the override, its own
    // when_made, no category, an unmapped one, a bad attribute.
    let ids = listings(
        &p,
        &s1,
        vec![
            listing("E-DEF", Some("aa-6-8"), json!({}), "EUR"),
            listing("E-OVR", Some("aa-1-13-8"), json!({}), "EUR"),
            listing(
                "E-ATT",
                Some("aa-1-13-8"),
                json!({"etsy_taxonomy_id": 69, "etsy_when_made": "1970s"}),
                "EUR",
            ),
            listing("E-NONE", None, json!({}), "EUR"),
            listing("E-GIFT", Some("gc"), json!({}), "EUR"),
            listing(
                "E-BAD",
                Some("aa-6-8"),
                json!({"etsy_when_made": "yesterday"}),
                "EUR",
            ),
        ],
    )
    .await;
    // A dry run reports the failures and sends nothing.
    let (run, done) = push(&p, &s1, "etsy", &ids, true).await;
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 3, "{done}");
    assert_eq!(etsy.creates(), 0, "a dry run sends nothing");
    let dry = items(&p, &s1, &run).await;
    let none = dry["E-NONE"]["error"].as_str().unwrap();
    assert!(
        none.contains("no category") && none.contains("etsy_taxonomy_id"),
        "{none}"
    );
    let gift = dry["E-GIFT"]["error"].as_str().unwrap();
    assert!(
        gift.contains("Gift Cards") && gift.contains("PUT /v1/connections/etsy/category-map"),
        "{gift}"
    );
    assert!(
        dry["E-BAD"]["error"]
            .as_str()
            .unwrap()
            .contains("etsy_when_made"),
        "{dry:?}"
    );

    let (run, done) = push(&p, &s1, "etsy", &ids, false).await;
    assert_eq!(done["status"], "completed_with_errors", "{done}");
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 3, "{done}");
    assert_eq!(
        items(&p, &s1, &run).await["E-NONE"]["error"],
        dry["E-NONE"]["error"]
    );
    let sent = |title: &str| {
        etsy.listings()
            .into_iter()
            .find(|l| l["title"] == title)
            .unwrap_or_else(|| panic!("{title} reached Etsy"))
    };
    let def = sent("Item E-DEF");
    assert_eq!(def["taxonomy_id"], "1179", "the default for jewelry");
    assert_eq!(def["when_made"], "2010_2019", "the connection's when_made");
    assert_eq!(
        sent("Item E-OVR")["taxonomy_id"],
        "2031",
        "the seller's override"
    );
    let att = sent("Item E-ATT");
    assert_eq!(att["taxonomy_id"], "69", "the attribute beats the override");
    assert_eq!(att["when_made"], "1970s");

    // s2's listing in the same category gets the default, not s1's override.
    let theirs = listings(
        &p,
        &s2,
        vec![listing("E-S2", Some("aa-1-13-8"), json!({}), "EUR")],
    )
    .await;
    let (_, done) = push(&p, &s2, "etsy", &theirs, false).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(sent("Item E-S2")["taxonomy_id"], "374");

    // Deleting the override brings the default back; the changed mapping is sent again.
    let (status, _) = p
        .call(
            "DELETE",
            &format!(
                "/v1/connections/etsy/category-map/{}",
                tops.replace('/', "%2F").replace(':', "%3A")
            ),
            &s1,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let creates = etsy.creates();
    let (_, done) = push(&p, &s1, "etsy", &ids[1..2], false).await;
    assert_eq!(
        done["totals"]["succeeded"], 1,
        "not skipped as unchanged: {done}"
    );
    assert_eq!(etsy.creates(), creates, "updated in place");
    assert_eq!(sent("Item E-OVR")["taxonomy_id"], "374");
}

async fn amazon_mapping(backend: Backend) {
    let amazon = FakeAmazon::selling_in(&[DE, FR, UK]);
    let (base, token_url) = (amazon.base.clone(), amazon.token_url());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.amazon_api_base = base;
            c.export.amazon_token_url = token_url;
        })
        .start()
        .await;
    let s1 = p.key(Role::Seller, Some("s1")).await;
    let s2 = p.key(Role::Seller, Some("s2")).await;
    let (status, err) = p
        .call(
            "PUT",
            "/v1/connections/amazon",
            &s1,
            Some(amazon.connection(&[DE, "A1NOTAMARKET"])),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        err["error"]["details"]["fields"][0]["field"], "marketplace_ids",
        "{err}"
    );
    assert!(
        err.to_string().contains("A1NOTAMARKET"),
        "names the unknown id: {err}"
    );
    let (status, err) = p
        .call(
            "PUT",
            "/v1/connections/amazon",
            &s1,
            Some(amazon.connection(&[DE, "ATVPDKIKX0DER"])),
        )
        .await;
    assert_eq!(status, 422, "one region per connection: {err}");
    for (key, markets) in [(&s1, vec![DE, FR]), (&s2, vec![DE, FR, UK])] {
        let (status, view) = p
            .call(
                "PUT",
                "/v1/connections/amazon",
                key,
                Some(amazon.connection(&markets)),
            )
            .await;
        assert_eq!(status, 200, "{view}");
    }
    refused(
        &p,
        &s1,
        "amazon",
        json!({"entries": [{"category": "aa-8", "product_type": "boots!"}]}),
        "entries[0].product_type",
    )
    .await;
    refused(
        &p,
        &s1,
        "amazon",
        json!({"entries": [{"category": "aa-8", "taxonomy_id": 5}]}),
        "entries[0].taxonomy_id",
    )
    .await;
    let (status, body) = p
        .call(
            "PUT",
            "/v1/connections/amazon/category-map",
            &s1,
            Some(json!({"entries": [{"category": "aa-1-13", "product_type": "SWEATSHIRT"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let ids = listings(
        &p,
        &s1,
        vec![
            listing(
                "A-DEF",
                Some("aa-8-3"),
                json!({"ean": "4006381333931"}),
                "EUR",
            ),
            listing(
                "A-OVR",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333932"}),
                "EUR",
            ),
            listing(
                "A-ATT",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333933", "amazon_product_type": "COAT"}),
                "EUR",
            ),
            listing(
                "A-USD",
                Some("aa-8"),
                json!({"ean": "4006381333934"}),
                "USD",
            ),
            listing("A-NONE", None, json!({}), "EUR"),
        ],
    )
    .await;
    // Dry run: the failures reported, nothing put.
    let (run, done) = push(&p, &s1, "amazon", &ids, true).await;
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    assert_eq!(amazon.puts(), 0, "a dry run puts nothing");
    let dry = items(&p, &s1, &run).await;
    let usd = dry["A-USD"]["error"].as_str().unwrap();
    assert!(
        usd.contains("priced in USD") && usd.contains("amazon.de and amazon.fr sell in EUR"),
        "{usd}"
    );
    let none = dry["A-NONE"]["error"].as_str().unwrap();
    assert!(
        none.contains("no category") && none.contains("amazon_product_type"),
        "{none}"
    );

    let (run, done) = push(&p, &s1, "amazon", &ids, false).await;
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    assert_eq!(
        items(&p, &s1, &run).await["A-USD"]["error"].as_str(),
        Some(usd)
    );
    let sent = |sku: &str| {
        amazon
            .listing(sku)
            .unwrap_or_else(|| panic!("{sku} reached Amazon"))
    };
    assert_eq!(
        sent("A-DEF")["productType"],
        "SHOES",
        "the default for boots"
    );
    assert_eq!(
        sent("A-OVR")["productType"],
        "SWEATSHIRT",
        "the seller's override"
    );
    assert_eq!(
        sent("A-ATT")["productType"],
        "COAT",
        "the attribute beats the override"
    );
    // Both marketplaces, each entry in its own language and currency.
    assert_eq!(amazon.offered_in("A-DEF"), [FR.to_owned(), DE.to_owned()]);
    let attributes = &sent("A-DEF")["attributes"];
    let tags: Vec<(&str, &str)> = attributes["item_name"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["marketplace_id"].as_str().unwrap(),
                v["language_tag"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tags, [(DE, "de_DE"), (FR, "fr_FR")]);
    assert_eq!(amazon.offer("A-DEF", FR).unwrap()["currency"], "EUR");
    assert_eq!(amazon.listing("A-USD"), None);

    // s2 sells in Germany, France and the UK: its EUR listing goes to the first two,
    // its GBP one to the UK alone, each naming the others in its warning. Its tops
    // get the default product type, not s1's override.
    let theirs = listings(
        &p,
        &s2,
        vec![
            listing(
                "B-EUR",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333941"}),
                "EUR",
            ),
            listing(
                "B-GBP",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333942"}),
                "GBP",
            ),
        ],
    )
    .await;
    let (run, done) = push(&p, &s2, "amazon", &theirs, false).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let outcome = items(&p, &s2, &run).await;
    let warning = outcome["B-EUR"]["warning"].as_str().unwrap();
    assert!(
        warning.contains("amazon.co.uk") && warning.contains("GBP"),
        "{warning}"
    );
    assert_eq!(
        outcome["B-GBP"]["warning"],
        "not offered on amazon.de and amazon.fr: priced in GBP, and they sell in EUR"
    );
    assert_eq!(amazon.offered_in("B-EUR"), [FR.to_owned(), DE.to_owned()]);
    assert_eq!(amazon.offered_in("B-GBP"), [UK.to_owned()]);
    assert_eq!(amazon.offer("B-GBP", UK).unwrap()["currency"], "GBP");
    assert_eq!(sent("B-EUR")["productType"], "SHIRT");
    assert_eq!(
        sent("B-GBP")["attributes"]["item_name"][0]["language_tag"],
        "en_GB"
    );
}

/// Etsy: a default resolves by name to the live taxonomy's id; an override or
/// attribute id Etsy does not have fails its listing alone, before anything is
/// sent; the taxonomy is read once for every chunk and run.
async fn etsy_taxonomy(backend: Backend) {
    let etsy = FakeEtsy::start(20.0, 10_000);
    let (base, token_url) = (etsy.api_base.clone(), etsy.token_url.clone());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.chunk_size = 2;
            c.export.etsy_api_base = base;
            c.export.etsy_token_url = token_url;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let mut conn = etsy.connection();
    conn["when_made"] = json!("2010_2019");
    let (status, view) = p
        .call("PUT", "/v1/connections/etsy", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{view}");
    let (status, body) = p
        .call(
            "PUT",
            "/v1/connections/etsy/category-map",
            &seller,
            Some(json!({"entries": [{"category": "aa-8", "taxonomy_id": 999999}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = listings(
        &p,
        &seller,
        vec![
            listing("T-BAG", Some("lb-1"), json!({}), "EUR"),
            listing("T-PET", Some("ap-2"), json!({}), "EUR"),
            listing("T-SHOE", Some("aa-8-3"), json!({}), "EUR"),
            listing(
                "T-ATT",
                Some("aa-1-13"),
                json!({"etsy_taxonomy_id": 424242}),
                "EUR",
            ),
            listing(
                "T-DEEP",
                Some("aa-1-13"),
                json!({"etsy_taxonomy_id": 2031}),
                "EUR",
            ),
        ],
    )
    .await;

    let (run, done) = push(&p, &seller, "etsy", &ids, true).await;
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    assert_eq!(etsy.creates(), 0, "a dry run sends nothing");
    let dry = items(&p, &seller, &run).await;
    let shoe = dry["T-SHOE"]["error"].as_str().unwrap();
    assert!(
        shoe.contains("999999")
            && shoe.contains("seller's category map")
            && shoe.contains("PUT /v1/connections/etsy/category-map")
            && shoe.contains("etsy_taxonomy_id"),
        "{shoe}"
    );
    let att = dry["T-ATT"]["error"].as_str().unwrap();
    assert!(
        att.contains("424242") && att.contains("etsy_taxonomy_id"),
        "{att}"
    );

    let (run, done) = push(&p, &seller, "etsy", &ids, false).await;
    assert_eq!(done["status"], "completed_with_errors", "{done}");
    assert_eq!(done["totals"]["succeeded"], 3, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    let outcome = items(&p, &seller, &run).await;
    assert_eq!(outcome["T-SHOE"]["error"].as_str(), Some(shoe));
    assert_eq!(etsy.creates(), 3, "the failed listings never reached Etsy");
    let sent = |title: &str| {
        etsy.listings()
            .into_iter()
            .find(|l| l["title"] == title)
            .map(|l| l["taxonomy_id"].clone())
    };
    let bags = FakeEtsy::top_level_id("Bags & Purses").unwrap();
    assert_eq!(
        sent("Item T-BAG"),
        Some(json!(bags.to_string())),
        "\"Bags & Purses\" resolved to the live taxonomy's id"
    );
    let pets = FakeEtsy::top_level_id("Pet Supplies").unwrap();
    assert_eq!(sent("Item T-PET"), Some(json!(pets.to_string())));
    assert_eq!(
        sent("Item T-DEEP"),
        Some(json!("2031")),
        "a deeper node by id"
    );
    assert_eq!(sent("Item T-SHOE"), None);
    assert_eq!(sent("Item T-ATT"), None);

    // Four chunk jobs over two runs, and the resolve endpoint: one read of the taxonomy.
    let (_, resolved) = p
        .call(
            "GET",
            "/v1/connections/etsy/category-map/resolve?category=lb-1",
            &seller,
            None,
        )
        .await;
    assert_eq!(resolved["taxonomy_name"], "Bags & Purses", "{resolved}");
    assert_eq!(resolved["taxonomy_id"], bags, "{resolved}");
    assert_eq!(
        etsy.taxonomy_calls(),
        1,
        "cached per process, not per listing"
    );

    // The fake itself refuses an id its taxonomy lacks, as Etsy does.
    let form = [
        ("quantity", "1"),
        ("title", "Direct"),
        ("description", "Direct"),
        ("price", "10"),
        ("who_made", "someone_else"),
        ("when_made", "2010_2019"),
        ("taxonomy_id", "999999"),
        ("type", "physical"),
        ("shipping_profile_id", etsy.shipping_profile_id.as_str()),
    ];
    let refused = reqwest::Client::new()
        .post(format!("{}/shops/{}/listings", etsy.api_base, etsy.shop_id))
        .header(
            "x-api-key",
            format!("{}:{}", etsy.keystring, etsy.shared_secret),
        )
        .bearer_auth(etsy.current_access_token())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("taxonomy_id"),
        "{body}"
    );
}

/// Amazon: a default type Amazon does not offer falls back (with a warning) to
/// the nearest offered ancestor default, else PRODUCT; a type the listing or
/// the seller's map names that Amazon does not offer fails alone; the product
/// types are asked once per marketplace, not per listing or chunk.
async fn amazon_product_types(backend: Backend) {
    let amazon = FakeAmazon::selling_in(&[DE, FR]);
    let (base, token_url) = (amazon.base.clone(), amazon.token_url());
    let p = Platform::on(backend)
        .workers(&[WorkerKind::Export])
        .configure(move |c| {
            c.export.chunk_size = 2;
            c.export.amazon_api_base = base;
            c.export.amazon_token_url = token_url;
        })
        .start()
        .await;
    let seller = p.key(Role::Seller, Some("s1")).await;
    let conn = amazon.connection(&[DE, FR]);
    let (status, view) = p
        .call("PUT", "/v1/connections/amazon", &seller, Some(conn))
        .await;
    assert_eq!(status, 200, "{view}");
    let (status, body) = p
        .call(
            "PUT",
            "/v1/connections/amazon/category-map",
            &seller,
            Some(json!({"entries": [{"category": "aa-8", "product_type": "CLOG"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ids = listings(
        &p,
        &seller,
        vec![
            listing(
                "P-CAM",
                Some("co-2-2"),
                json!({"ean": "4006381333951"}),
                "EUR",
            ),
            listing(
                "P-TOP",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333952"}),
                "EUR",
            ),
            listing(
                "P-ATT",
                Some("aa-1-13-8"),
                json!({"ean": "4006381333953", "amazon_product_type": "KIMONO"}),
                "EUR",
            ),
            listing(
                "P-OVR",
                Some("aa-8-3"),
                json!({"ean": "4006381333954"}),
                "EUR",
            ),
        ],
    )
    .await;

    let (run, done) = push(&p, &seller, "amazon", &ids, true).await;
    assert_eq!(done["totals"]["succeeded"], 2, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    assert_eq!(amazon.puts(), 0, "a dry run puts nothing");
    let dry = items(&p, &seller, &run).await;
    let warning = dry["P-CAM"]["warning"].as_str().unwrap();
    assert!(
        warning.contains("CAMERA_DIGITAL") && warning.contains("sent as product type PRODUCT"),
        "{warning}"
    );
    assert_eq!(dry["P-TOP"]["warning"], Value::Null, "{:?}", dry["P-TOP"]);
    let att = dry["P-ATT"]["error"].as_str().unwrap();
    assert!(
        att.contains("KIMONO") && att.contains("amazon_product_type"),
        "{att}"
    );
    let ovr = dry["P-OVR"]["error"].as_str().unwrap();
    assert!(
        ovr.contains("CLOG") && ovr.contains("PUT /v1/connections/amazon/category-map"),
        "{ovr}"
    );

    let (run, done) = push(&p, &seller, "amazon", &ids, false).await;
    assert_eq!(done["status"], "completed_with_errors", "{done}");
    assert_eq!(done["totals"]["succeeded"], 2, "{done}");
    assert_eq!(done["totals"]["failed"], 2, "{done}");
    let outcome = items(&p, &seller, &run).await;
    assert_eq!(outcome["P-CAM"]["warning"].as_str(), Some(warning));
    assert_eq!(outcome["P-OVR"]["error"].as_str(), Some(ovr));
    assert_eq!(
        amazon.listing("P-CAM").unwrap()["productType"],
        "PRODUCT",
        "the fallback is what is sent"
    );
    assert_eq!(amazon.listing("P-TOP").unwrap()["productType"], "SHIRT");
    assert_eq!(amazon.listing("P-ATT"), None);
    assert_eq!(amazon.listing("P-OVR"), None);
    assert_eq!(amazon.puts(), 2, "only the offerable listings were put");
    assert_eq!(
        amazon.product_type_searches(),
        2,
        "one search per marketplace for four chunk jobs"
    );

    // The fake itself answers an unknown product type as SP-API does.
    let token: Value = reqwest::Client::new()
        .post(amazon.token_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", amazon.refresh_token.as_str()),
            ("client_id", amazon.client_id.as_str()),
            ("client_secret", amazon.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answer: Value = reqwest::Client::new()
        .put(format!(
            "{}/listings/2021-08-01/items/{}/P-RAW?marketplaceIds={DE}",
            amazon.base, amazon.seller_id
        ))
        .header(
            "x-amz-access-token",
            token["access_token"].as_str().unwrap(),
        )
        .json(
            &json!({"productType": "CAMERA_DIGITAL", "requirements": "LISTING_OFFER_ONLY",
            "attributes": {}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "INVALID", "{answer}");
    assert_eq!(answer["issues"][0]["code"], "4000003", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_taxonomy_sqlite() {
    etsy_taxonomy(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_taxonomy_redis_postgres() {
    etsy_taxonomy(Backend::RedisPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_product_types_sqlite() {
    amazon_product_types(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_product_types_redis_postgres() {
    amazon_product_types(Backend::RedisPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_mapping_sqlite() {
    etsy_mapping(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etsy_mapping_redis_postgres() {
    etsy_mapping(Backend::RedisPostgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_mapping_sqlite() {
    amazon_mapping(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_mapping_redis_postgres() {
    amazon_mapping(Backend::RedisPostgres).await;
}
