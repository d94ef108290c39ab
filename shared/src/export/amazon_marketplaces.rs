//! Amazon's Selling Partner API marketplaces Fleet sells in: each id with its
//! country, the language its attributes are tagged with, the currency its
//! offers must be priced in, and the SP-API region that serves it (from
//! Amazon's "Marketplace IDs" reference).

/// One SP-API marketplace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmazonMarketplace {
    /// Marketplace id (`A1PA6795UKMFR9`).
    pub id: &'static str,
    /// ISO country code (`DE`).
    pub country: &'static str,
    /// The store's domain, for messages (`amazon.de`).
    pub domain: &'static str,
    /// Language tag of its text attributes (`de_DE`).
    pub language_tag: &'static str,
    /// ISO currency its offers are priced in (`EUR`).
    pub currency: &'static str,
    /// SP-API region serving it: `na`, `eu` or `fe`.
    pub region: &'static str,
}

const fn market(
    id: &'static str,
    country: &'static str,
    domain: &'static str,
    language_tag: &'static str,
    currency: &'static str,
    region: &'static str,
) -> AmazonMarketplace {
    AmazonMarketplace {
        id,
        country,
        domain,
        language_tag,
        currency,
        region,
    }
}

/// Every marketplace Fleet knows.
pub const MARKETPLACES: &[AmazonMarketplace] = &[
    market("ATVPDKIKX0DER", "US", "amazon.com", "en_US", "USD", "na"),
    market("A2EUQ1WTGCTBG2", "CA", "amazon.ca", "en_CA", "CAD", "na"),
    market(
        "A1AM78C64UM0Y8",
        "MX",
        "amazon.com.mx",
        "es_MX",
        "MXN",
        "na",
    ),
    market("A1F83G8C2ARO7P", "UK", "amazon.co.uk", "en_GB", "GBP", "eu"),
    market("A1PA6795UKMFR9", "DE", "amazon.de", "de_DE", "EUR", "eu"),
    market("A13V1IB3VIYZZH", "FR", "amazon.fr", "fr_FR", "EUR", "eu"),
    market("APJ6JRA9NG5V4", "IT", "amazon.it", "it_IT", "EUR", "eu"),
    market("A1RKKUPIHCS9HS", "ES", "amazon.es", "es_ES", "EUR", "eu"),
    market("A1805IZSGTT6HS", "NL", "amazon.nl", "nl_NL", "EUR", "eu"),
    market("A2NODRKZP88ZB9", "SE", "amazon.se", "sv_SE", "SEK", "eu"),
    market("A1C3SOZRARQ6R3", "PL", "amazon.pl", "pl_PL", "PLN", "eu"),
    market("A1VC38T7YXB528", "JP", "amazon.co.jp", "ja_JP", "JPY", "fe"),
    market(
        "A39IBJ37TRP1C6",
        "AU",
        "amazon.com.au",
        "en_AU",
        "AUD",
        "fe",
    ),
];

/// The marketplace with this id.
pub fn marketplace(id: &str) -> Option<&'static AmazonMarketplace> {
    MARKETPLACES.iter().find(|m| m.id == id)
}

/// Why a connection's marketplace ids are not usable together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketplaceError {
    /// An id Fleet does not know.
    #[error("unknown Amazon marketplace id `{0}` (known: {known})", known = known())]
    Unknown(String),
    /// Marketplaces served by different SP-API regions.
    #[error(
        "{first} and {second} are served by different Selling Partner API regions ({first_region}, {second_region}): connect each region separately"
    )]
    MixedRegions {
        /// One marketplace's domain.
        first: &'static str,
        /// Its region.
        first_region: &'static str,
        /// Another's.
        second: &'static str,
        /// Its region.
        second_region: &'static str,
    },
    /// The `region` setting does not serve the marketplaces.
    #[error("region `{region}` does not serve {domain} (served by `{expected}`)")]
    WrongRegion {
        /// The region set.
        region: String,
        /// A marketplace it does not serve.
        domain: &'static str,
        /// The region that serves it.
        expected: &'static str,
    },
}

fn known() -> String {
    MARKETPLACES
        .iter()
        .map(|m| format!("{} {}", m.id, m.country))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The marketplaces of `ids`, all served by one region (`region` when set); Err names the first problem.
pub fn resolve(
    ids: &[String],
    region: Option<&str>,
) -> Result<Vec<&'static AmazonMarketplace>, MarketplaceError> {
    let markets = ids
        .iter()
        .map(|id| marketplace(id).ok_or_else(|| MarketplaceError::Unknown(id.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(first) = markets.first()
        && let Some(other) = markets.iter().find(|m| m.region != first.region)
    {
        return Err(MarketplaceError::MixedRegions {
            first: first.domain,
            first_region: first.region,
            second: other.domain,
            second_region: other.region,
        });
    }
    if let (Some(region), Some(first)) = (region, markets.first())
        && region != first.region
    {
        return Err(MarketplaceError::WrongRegion {
            region: region.to_owned(),
            domain: first.domain,
            expected: first.region,
        });
    }
    Ok(markets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_resolve_by_region() {
        for (i, m) in MARKETPLACES.iter().enumerate() {
            assert!(MARKETPLACES[..i].iter().all(|o| o.id != m.id), "{}", m.id);
        }
        let eu = resolve(&["A1PA6795UKMFR9".into(), "A13V1IB3VIYZZH".into()], None).unwrap();
        assert_eq!(
            eu.iter().map(|m| m.currency).collect::<Vec<_>>(),
            ["EUR", "EUR"]
        );
        assert_eq!(eu[1].language_tag, "fr_FR");
        let unknown = resolve(&["A1PA6795UKMFR9".into(), "NOPE".into()], None).unwrap_err();
        assert_eq!(unknown, MarketplaceError::Unknown("NOPE".into()));
        assert!(unknown.to_string().contains("ATVPDKIKX0DER US"));
        assert!(matches!(
            resolve(&["ATVPDKIKX0DER".into(), "A1PA6795UKMFR9".into()], None),
            Err(MarketplaceError::MixedRegions { .. })
        ));
        assert!(matches!(
            resolve(&["A1PA6795UKMFR9".into()], Some("na")),
            Err(MarketplaceError::WrongRegion { .. })
        ));
        assert!(resolve(&["A39IBJ37TRP1C6".into()], Some("fe")).is_ok());
    }
}
