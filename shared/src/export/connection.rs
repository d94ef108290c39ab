//! A seller's marketplace connection: which fields each marketplace needs,
//! which of them are secret (sealed at rest, never shown), and reading and
//! writing the sealed record.

use crate::{
    Db, DbError,
    db::exports::ConnectionRecord,
    export::{
        amazon_marketplaces::{self, MarketplaceError},
        etsy::WHEN_MADE,
    },
    seal::{SealError, Sealer},
};
use fleet_jobs::export::Marketplace;
use serde_json::{Map, Value};

/// What a connection field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A non-empty string.
    Text,
    /// A non-empty list of non-empty strings.
    List,
}

/// One field a marketplace's connection takes.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    secret: bool,
    required: bool,
    kind: Kind,
}

const fn field(name: &'static str, secret: bool, required: bool, kind: Kind) -> Field {
    Field {
        name,
        secret,
        required,
        kind,
    }
}

const SHOPIFY: &[Field] = &[
    field("shop_domain", false, true, Kind::Text),
    field("access_token", true, true, Kind::Text),
    field("location_id", false, false, Kind::Text),
];

const ETSY: &[Field] = &[
    field("keystring", true, true, Kind::Text),
    field("shared_secret", true, true, Kind::Text),
    field("access_token", true, true, Kind::Text),
    field("refresh_token", true, true, Kind::Text),
    field("shop_id", false, true, Kind::Text),
    field("shipping_profile_id", false, true, Kind::Text),
    field("when_made", false, false, Kind::Text),
];

const AMAZON: &[Field] = &[
    field("lwa_client_id", false, true, Kind::Text),
    field("lwa_client_secret", true, true, Kind::Text),
    field("refresh_token", true, true, Kind::Text),
    field("seller_id", false, true, Kind::Text),
    field("marketplace_ids", false, true, Kind::List),
    field("region", false, false, Kind::Text),
];

fn fields(marketplace: Marketplace) -> &'static [Field] {
    match marketplace {
        Marketplace::Shopify => SHOPIFY,
        Marketplace::Etsy => ETSY,
        Marketplace::Amazon => AMAZON,
    }
}

/// A connection's fields split into what is shown and what is sealed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnectionFields {
    /// Non-secret fields, returned by the API.
    pub settings: Map<String, Value>,
    /// Secret fields, sealed at rest.
    pub secrets: Map<String, Value>,
}

impl ConnectionFields {
    /// The secret `name` as text (empty when absent).
    pub fn secret(&self, name: &str) -> &str {
        self.secrets.get(name).and_then(Value::as_str).unwrap_or("")
    }

    /// The setting `name` as text, if set.
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings.get(name).and_then(Value::as_str)
    }

    /// The list setting `name` (empty when absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.settings
            .get(name)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Checks `body` against what `marketplace` needs; on failure, the message of each bad field.
pub fn parse(
    marketplace: Marketplace,
    body: &Map<String, Value>,
) -> Result<ConnectionFields, Vec<(String, String)>> {
    let spec = fields(marketplace);
    let mut errors = Vec::new();
    for name in body.keys() {
        if !spec.iter().any(|f| f.name == name) {
            let known: Vec<&str> = spec.iter().map(|f| f.name).collect();
            errors.push((
                name.clone(),
                format!(
                    "unknown field for {marketplace} (expected: {})",
                    known.join(", ")
                ),
            ));
        }
    }
    let mut out = ConnectionFields::default();
    for f in spec {
        let value = match body.get(f.name) {
            None | Some(Value::Null) => {
                if f.required {
                    errors.push((f.name.to_owned(), "required".to_owned()));
                }
                continue;
            }
            Some(value) => value,
        };
        let valid = match (f.kind, value) {
            (Kind::Text, Value::String(s)) => !s.trim().is_empty() && s.len() <= 4096,
            (Kind::List, Value::Array(items)) => {
                !items.is_empty()
                    && items.len() <= 50
                    && items
                        .iter()
                        .all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty()))
            }
            _ => false,
        };
        if !valid {
            let want = match f.kind {
                Kind::Text => "a non-empty string",
                Kind::List => "a non-empty list of strings",
            };
            errors.push((f.name.to_owned(), format!("must be {want}")));
            continue;
        }
        let target = if f.secret {
            &mut out.secrets
        } else {
            &mut out.settings
        };
        target.insert(f.name.to_owned(), value.clone());
    }
    if let Some(domain) = out.setting("shop_domain")
        && !is_shop_domain(domain)
    {
        errors.push((
            "shop_domain".to_owned(),
            "must be the shop's myshopify.com domain (`my-shop.myshopify.com`)".to_owned(),
        ));
    }
    let region = out.setting("region");
    if let Some(region) = region
        && !matches!(region, "na" | "eu" | "fe")
    {
        errors.push(("region".to_owned(), "must be na, eu or fe".to_owned()));
    } else if marketplace == Marketplace::Amazon
        && let Err(e) = amazon_marketplaces::resolve(&out.list("marketplace_ids"), region)
    {
        let field = match e {
            MarketplaceError::WrongRegion { .. } => "region",
            _ => "marketplace_ids",
        };
        errors.push((field.to_owned(), e.to_string()));
    }
    if let Some(when_made) = out.setting("when_made")
        && !WHEN_MADE.contains(&when_made)
    {
        errors.push((
            "when_made".to_owned(),
            format!("must be one of Etsy's values: {}", WHEN_MADE.join(", ")),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Whether `domain` is a `name.myshopify.com` host.
fn is_shop_domain(domain: &str) -> bool {
    domain.strip_suffix(".myshopify.com").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 60
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// The sealing context of a connection: a sealed value cannot move to another seller or marketplace.
/// What a connection's sealed credentials are bound to: its seller and marketplace (name).
pub(crate) fn context(seller_id: &str, marketplace: impl std::fmt::Display) -> String {
    format!("export-connection:{seller_id}:{marketplace}")
}

/// Why a stored connection could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The seller has no connection to the marketplace.
    #[error("no {marketplace} connection: create it with PUT /v1/connections/{marketplace}")]
    Missing {
        /// The marketplace.
        marketplace: Marketplace,
    },
    /// The sealed credentials do not open.
    #[error(
        "the stored {marketplace} credentials cannot be opened ({source}); put the connection again"
    )]
    Sealed {
        /// The marketplace.
        marketplace: Marketplace,
        /// Why.
        source: SealError,
    },
}

/// Seals `fields.secrets` and stores the connection; its status becomes `untested`.
pub async fn store(
    db: &Db,
    sealer: &Sealer,
    seller_id: &str,
    marketplace: Marketplace,
    fields: &ConnectionFields,
) -> Result<ConnectionRecord, DbError> {
    let sealed = seal(sealer, seller_id, marketplace, &fields.secrets);
    db.put_connection(seller_id, marketplace, &sealed, &fields.settings)
        .await
}

/// Replaces the stored secrets (a refreshed OAuth token), keeping status and settings.
pub async fn store_secrets(
    db: &Db,
    sealer: &Sealer,
    seller_id: &str,
    marketplace: Marketplace,
    secrets: &Map<String, Value>,
) -> Result<(), DbError> {
    let sealed = seal(sealer, seller_id, marketplace, secrets);
    db.set_connection_credentials(seller_id, marketplace, &sealed)
        .await
}

fn seal(
    sealer: &Sealer,
    seller_id: &str,
    marketplace: Marketplace,
    secrets: &Map<String, Value>,
) -> String {
    let json = Value::Object(secrets.clone()).to_string();
    sealer.seal(&context(seller_id, marketplace), json.as_bytes())
}

/// `seller_id`'s connection to `marketplace` with its secrets opened.
pub async fn load(
    db: &Db,
    sealer: &Sealer,
    seller_id: &str,
    marketplace: Marketplace,
) -> Result<(ConnectionRecord, ConnectionFields), ConnectionError> {
    let record = db
        .connection(seller_id, marketplace)
        .await?
        .ok_or(ConnectionError::Missing { marketplace })?;
    let sealed_err = |source| ConnectionError::Sealed {
        marketplace,
        source,
    };
    let json = sealer
        .open(&context(seller_id, marketplace), &record.credentials)
        .map_err(sealed_err)?;
    let secrets = match serde_json::from_slice(&json) {
        Ok(Value::Object(map)) => map,
        _ => return Err(sealed_err(SealError::Malformed)),
    };
    let fields = ConnectionFields {
        settings: record.settings.clone(),
        secrets,
    };
    Ok((record, fields))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn splits_secrets_from_settings() {
        let parsed = parse(
            Marketplace::Shopify,
            &body(json!({"shop_domain": "my-shop.myshopify.com", "access_token": "shpat_x"})),
        )
        .unwrap();
        assert_eq!(parsed.setting("shop_domain"), Some("my-shop.myshopify.com"));
        assert_eq!(parsed.secret("access_token"), "shpat_x");
        assert!(!parsed.settings.contains_key("access_token"));
    }

    #[test]
    fn names_every_bad_field() {
        let errors = parse(
            Marketplace::Amazon,
            &body(json!({"lwa_client_id": "", "marketplace_ids": [], "region": "mars", "x": 1})),
        )
        .unwrap_err();
        let names: Vec<&str> = errors.iter().map(|(n, _)| n.as_str()).collect();
        for expected in [
            "x",
            "lwa_client_id",
            "lwa_client_secret",
            "refresh_token",
            "seller_id",
            "marketplace_ids",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        let shop = parse(
            Marketplace::Shopify,
            &body(json!({"shop_domain": "evil.com/x", "access_token": "t"})),
        )
        .unwrap_err();
        assert_eq!(shop[0].0, "shop_domain");
    }

    #[test]
    fn amazon_marketplaces_and_etsy_when_made_are_checked() {
        let amazon = |ids: Value, region: Option<&str>| {
            let mut b = json!({"lwa_client_id": "c", "lwa_client_secret": "s",
                "refresh_token": "r", "seller_id": "A1", "marketplace_ids": ids});
            if let Some(region) = region {
                b["region"] = json!(region);
            }
            parse(Marketplace::Amazon, &body(b))
        };
        assert!(amazon(json!(["A1PA6795UKMFR9", "A13V1IB3VIYZZH"]), None).is_ok());
        let unknown = amazon(json!(["A1PA6795UKMFR9", "A1XXXX"]), None).unwrap_err();
        assert_eq!(unknown[0].0, "marketplace_ids");
        assert!(unknown[0].1.contains("`A1XXXX`"), "{unknown:?}");
        let mixed = amazon(json!(["ATVPDKIKX0DER", "A1PA6795UKMFR9"]), None).unwrap_err();
        assert!(mixed[0].1.contains("regions"), "{mixed:?}");
        let region = amazon(json!(["A1PA6795UKMFR9"]), Some("na")).unwrap_err();
        assert_eq!(region[0].0, "region");

        let etsy = |when: &str| {
            parse(
                Marketplace::Etsy,
                &body(
                    json!({"keystring": "k", "shared_secret": "s", "access_token": "a",
                    "refresh_token": "r", "shop_id": "1", "shipping_profile_id": "2", "when_made": when}),
                ),
            )
        };
        assert_eq!(etsy("1990s").unwrap().setting("when_made"), Some("1990s"));
        let bad = etsy("last_week").unwrap_err();
        assert_eq!(bad[0].0, "when_made");
        assert!(bad[0].1.contains("before_1700"), "{bad:?}");
    }
}
