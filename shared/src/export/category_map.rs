//! Fleet's categories (Shopify taxonomy ids) to a marketplace's own: an Etsy
//! seller-taxonomy id or an Amazon product type. A listing's target is its own
//! attribute (`etsy_taxonomy_id`, `amazon_product_type`) when set, else the
//! seller's override for the longest prefix of its category, else the default
//! shipped in `data/marketplace-category-defaults.txt` for the longest prefix.
//! Etsy's defaults name top-level nodes of its seller taxonomy (resolved to ids
//! against the live taxonomy at export); Amazon's name product types (checked
//! against those Amazon offers, falling back along the defaults' ancestors).

use crate::taxonomy::{GID_PREFIX, Taxonomy, short_id};
use fleet_jobs::export::Marketplace;
use serde_json::Value;
use std::{collections::HashMap, sync::OnceLock};

/// The shipped defaults (see the file's header for their sources).
pub const DEFAULTS_TXT: &str = include_str!("../../data/marketplace-category-defaults.txt");

/// The names of the top-level nodes of Etsy's seller taxonomy (level 0), as
/// the defaults name them.
pub const ETSY_TOP_LEVEL: &[&str] = &[
    "Accessories",
    "Art & Collectibles",
    "Bags & Purses",
    "Bath & Beauty",
    "Books, Movies & Music",
    "Clothing",
    "Craft Supplies & Tools",
    "Electronics & Accessories",
    "Home & Living",
    "Jewelry",
    "Paper & Party Supplies",
    "Pet Supplies",
    "Shoes",
    "Toys & Games",
    "Weddings",
];

/// One row of the shipped defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRow {
    /// Short Shopify category id (`aa-1-13`).
    pub category: String,
    /// Name of a top-level node of Etsy's seller taxonomy, if the row names one.
    pub etsy_category: Option<String>,
    /// Amazon product type, if the row names one.
    pub amazon_product_type: Option<String>,
}

impl DefaultRow {
    /// The row's value for `marketplace`.
    pub fn target(&self, marketplace: Marketplace) -> Option<&str> {
        match marketplace {
            Marketplace::Etsy => self.etsy_category.as_deref(),
            Marketplace::Amazon => self.amazon_product_type.as_deref(),
            Marketplace::Shopify => None,
        }
    }
}

/// The whitespace-separated fields of `line`, a field in double quotes taken
/// whole without its quotes; None when a quote is not closed.
fn fields(line: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (field, after) = quoted.split_once('"')?;
            out.push(field);
            rest = after.trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
    }
    Some(out)
}

/// Parses the defaults format: `category "Etsy name" AMAZON_TYPE # comment`,
/// `-` for none, a value with spaces in double quotes.
pub fn parse_defaults(text: &str) -> Vec<DefaultRow> {
    let value = |v: &str| (v != "-" && !v.is_empty()).then(|| v.to_owned());
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            match fields(line)?.as_slice() {
                [category, etsy, amazon] => Some(DefaultRow {
                    category: (*category).to_owned(),
                    etsy_category: value(etsy),
                    amazon_product_type: value(amazon),
                }),
                _ => None,
            }
        })
        .collect()
}

/// The shipped defaults by short category id, parsed once.
pub fn defaults() -> &'static HashMap<String, DefaultRow> {
    static DEFAULTS: OnceLock<HashMap<String, DefaultRow>> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        parse_defaults(DEFAULTS_TXT)
            .into_iter()
            .map(|row| (row.category.clone(), row))
            .collect()
    })
}

/// The listing attribute that sets `marketplace`'s category directly.
pub fn attribute(marketplace: Marketplace) -> Option<&'static str> {
    match marketplace {
        Marketplace::Etsy => Some("etsy_taxonomy_id"),
        Marketplace::Amazon => Some("amazon_product_type"),
        Marketplace::Shopify => None,
    }
}

/// What a category maps to on `marketplace`, in words.
fn what(marketplace: Marketplace) -> &'static str {
    match marketplace {
        Marketplace::Etsy => "Etsy category (taxonomy_id)",
        Marketplace::Amazon => "Amazon product type",
        Marketplace::Shopify => "Shopify category",
    }
}

/// Why a category or a mapping target is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The marketplace takes Fleet's categories as they are.
    #[error("{0} takes Fleet's categories as they are: only etsy and amazon have a category map")]
    NoMap(Marketplace),
    /// Not a category of the shipped taxonomy.
    #[error(
        "`{0}` is not a category of the Shopify taxonomy (such as gid://shopify/TaxonomyCategory/aa-1-13)"
    )]
    UnknownCategory(String),
    /// Not a positive whole number.
    #[error("an Etsy taxonomy id is a positive whole number of Etsy's seller taxonomy, not `{0}`")]
    EtsyTaxonomyId(String),
    /// Not an Amazon product type name.
    #[error(
        "an Amazon product type is 1-64 upper-case letters, digits and underscores (such as SHIRT), not `{0}`"
    )]
    AmazonProductType(String),
}

/// `category` (a gid or short id) as a short id of the shipped taxonomy.
pub fn known_category(category: &str) -> Result<String, MapError> {
    Taxonomy::shipped()
        .get(category)
        .map(|c| c.id.clone())
        .ok_or_else(|| MapError::UnknownCategory(category.to_owned()))
}

/// `value` checked as a target of `marketplace`, in its stored form.
pub fn parse_target(marketplace: Marketplace, value: &Value) -> Result<String, MapError> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    match marketplace {
        Marketplace::Etsy => match text.parse::<u64>() {
            Ok(id) if id > 0 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(id.to_string()),
            _ => Err(MapError::EtsyTaxonomyId(text)),
        },
        Marketplace::Amazon => {
            let valid = (1..=64).contains(&text.len())
                && text.starts_with(|c: char| c.is_ascii_uppercase())
                && text
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if valid {
                Ok(text)
            } else {
                Err(MapError::AmazonProductType(text))
            }
        }
        Marketplace::Shopify => Err(MapError::NoMap(marketplace)),
    }
}

/// The defaults of `marketplace` of the categories above `category` (a short
/// id whose row applied), nearest first: where a default that does not fit
/// falls back to.
pub fn default_ancestors(
    marketplace: Marketplace,
    category: &str,
) -> impl Iterator<Item = (&'static str, &'static str)> {
    prefixes(category).skip(1).filter_map(move |p| {
        defaults()
            .get(p)
            .and_then(|row| Some((row.category.as_str(), row.target(marketplace)?)))
    })
}

/// The path of `category` (gid or short id) in the shipped taxonomy, with its gid.
pub fn category_path(category: &str) -> String {
    let gid = format!("{GID_PREFIX}{}", short_id(category));
    match Taxonomy::shipped().get(category) {
        Some(c) => format!("{} ({gid})", c.full_path),
        None => gid,
    }
}

/// `id` and its ancestors, longest first (`aa-1-13`, `aa-1`, `aa`).
fn prefixes(id: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(id), |id| id.rsplit_once('-').map(|(parent, _)| parent))
}

/// Where a listing's target came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The listing's own attribute.
    Attribute,
    /// The seller's override of this (short) category id.
    Override(String),
    /// The shipped default of this (short) category id.
    Default(String),
}

impl Source {
    /// `attribute`, `override` or `default`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Attribute => "attribute",
            Source::Override(_) => "override",
            Source::Default(_) => "default",
        }
    }
}

/// A resolved target and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Etsy taxonomy id or Amazon product type.
    pub target: String,
    /// Where it came from.
    pub source: Source,
}

/// Why a listing has no target on a marketplace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    /// The listing's attribute is set but not usable.
    #[error("the attribute {attribute} is not usable: {source}")]
    BadAttribute {
        /// The attribute.
        attribute: &'static str,
        /// What is wrong with it.
        source: MapError,
    },
    /// The listing has no category and no attribute.
    #[error(
        "no {what}: the listing has no category; set its category (a Shopify taxonomy gid) or the attribute {attribute}"
    )]
    NoCategory {
        /// What is missing, in words.
        what: &'static str,
        /// The attribute that would set it.
        attribute: &'static str,
    },
    /// Neither the seller's map nor the defaults cover the category.
    #[error(
        "no {what} is known for {path}: map it with PUT /v1/connections/{marketplace}/category-map, or set the attribute {attribute}"
    )]
    Unmapped {
        /// What is missing, in words.
        what: &'static str,
        /// The category's path (and gid).
        path: String,
        /// The marketplace.
        marketplace: Marketplace,
        /// The attribute that would set it.
        attribute: &'static str,
    },
}

impl Unresolved {
    /// Whether the listing simply has no usable category (as opposed to a bad attribute).
    pub fn is_missing(&self) -> bool {
        !matches!(self, Unresolved::BadAttribute { .. })
    }
}

/// A seller's category map for one marketplace: its overrides over the shipped defaults.
#[derive(Debug, Clone)]
pub struct CategoryMap {
    marketplace: Marketplace,
    overrides: HashMap<String, String>,
}

impl CategoryMap {
    /// The map of `marketplace` with `overrides` (category id or gid, target).
    pub fn new(
        marketplace: Marketplace,
        overrides: impl IntoIterator<Item = (String, String)>,
    ) -> CategoryMap {
        CategoryMap {
            marketplace,
            overrides: overrides
                .into_iter()
                .map(|(category, target)| (short_id(&category).to_owned(), target))
                .collect(),
        }
    }

    /// The shipped defaults alone.
    pub fn defaults_only(marketplace: Marketplace) -> CategoryMap {
        CategoryMap::new(marketplace, [])
    }

    /// The target of `category` (gid or short id): the seller's override of its
    /// longest prefix, else the default of its longest prefix.
    pub fn lookup(&self, category: &str) -> Option<Resolved> {
        let id = short_id(category);
        let overridden = prefixes(id).find_map(|p| {
            self.overrides.get(p).map(|target| Resolved {
                target: target.clone(),
                source: Source::Override(p.to_owned()),
            })
        });
        overridden.or_else(|| {
            prefixes(id).find_map(|p| {
                defaults()
                    .get(p)
                    .and_then(|row| row.target(self.marketplace))
                    .map(|target| Resolved {
                        target: target.to_owned(),
                        source: Source::Default(p.to_owned()),
                    })
            })
        })
    }

    /// The target of a listing with `attribute` (its value of the marketplace's
    /// attribute, if set) and `category`.
    pub fn resolve(
        &self,
        attribute: Option<&Value>,
        category: Option<&str>,
    ) -> Result<Resolved, Unresolved> {
        let name = self::attribute(self.marketplace).unwrap_or("category");
        if let Some(value) = attribute.filter(|v| !v.is_null()) {
            return parse_target(self.marketplace, value)
                .map(|target| Resolved {
                    target,
                    source: Source::Attribute,
                })
                .map_err(|source| Unresolved::BadAttribute {
                    attribute: name,
                    source,
                });
        }
        let what = what(self.marketplace);
        let Some(category) = category.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(Unresolved::NoCategory {
                what,
                attribute: name,
            });
        };
        self.lookup(category).ok_or_else(|| Unresolved::Unmapped {
            what,
            path: category_path(category),
            marketplace: self.marketplace,
            attribute: name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_default_is_a_known_category_with_valid_targets() {
        let rows = parse_defaults(DEFAULTS_TXT);
        let lines = DEFAULTS_TXT
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert_eq!(rows.len(), lines, "every data line parses");
        assert_eq!(defaults().len(), rows.len(), "no category twice");
        for row in &rows {
            assert_eq!(
                known_category(&row.category).as_deref(),
                Ok(row.category.as_str())
            );
            if let Some(target) = row.target(Marketplace::Amazon) {
                assert_eq!(
                    parse_target(Marketplace::Amazon, &json!(target)).as_deref(),
                    Ok(target),
                    "{row:?}"
                );
            }
            if let Some(name) = row.target(Marketplace::Etsy) {
                assert!(
                    ETSY_TOP_LEVEL.contains(&name),
                    "Etsy defaults name a top-level node, never an id: {row:?}"
                );
            }
        }
        for area in ["aa", "lb", "el", "hg", "tg", "me", "sg", "ae", "fr", "co"] {
            let row = &defaults()[area];
            assert!(
                row.etsy_category.is_some() && row.amazon_product_type.is_some(),
                "{area}"
            );
        }
    }

    #[test]
    fn longest_prefix_wins_and_overrides_beat_defaults() {
        let etsy = CategoryMap::defaults_only(Marketplace::Etsy);
        let amazon = CategoryMap::defaults_only(Marketplace::Amazon);
        let tee = "gid://shopify/TaxonomyCategory/aa-1-13-8";
        assert_eq!(etsy.lookup(tee).unwrap().target, "Clothing");
        let shirt = amazon.lookup(tee).unwrap();
        assert_eq!(shirt.target, "SHIRT");
        assert_eq!(shirt.source, Source::Default("aa-1-13".to_owned()));
        assert_eq!(amazon.lookup("aa-8-3").unwrap().target, "SHOES");
        assert_eq!(amazon.lookup("aa-6-8").unwrap().target, "NECKLACE");
        assert_eq!(amazon.lookup("aa-6").unwrap().target, "PRODUCT");
        // "aa-1-1" is not a prefix of "aa-1-13".
        assert_eq!(amazon.lookup("aa-1-1").unwrap().target, "PRODUCT");
        // Baby & Toddler has no Etsy default: nothing maps.
        assert_eq!(etsy.lookup("bt-1"), None);
        assert_eq!(etsy.lookup("bt-5-1").unwrap().target, "Toys & Games");
        assert_eq!(
            etsy.lookup("aa-5-5").unwrap().target,
            "Bags & Purses",
            "a quoted name with spaces"
        );
        assert_eq!(etsy.lookup("gc"), None);

        let seller = CategoryMap::new(
            Marketplace::Amazon,
            [(
                "gid://shopify/TaxonomyCategory/aa".to_owned(),
                "COAT".to_owned(),
            )],
        );
        let over = seller.lookup(tee).unwrap();
        assert_eq!(
            over.target, "COAT",
            "an override of a shorter prefix beats any default"
        );
        assert_eq!(over.source, Source::Override("aa".to_owned()));
        assert_eq!(seller.lookup("el-6-6").unwrap().target, "NOTEBOOK_COMPUTER");
    }

    #[test]
    fn attribute_first_then_readable_failures() {
        let etsy = CategoryMap::new(Marketplace::Etsy, [("aa-1".to_owned(), "2000".to_owned())]);
        let from_attr = etsy.resolve(Some(&json!(1429)), Some("aa-1-13")).unwrap();
        assert_eq!(from_attr.target, "1429");
        assert_eq!(from_attr.source, Source::Attribute);
        assert_eq!(etsy.resolve(None, Some("aa-1-13")).unwrap().target, "2000");
        let bad = etsy
            .resolve(Some(&json!("shoes")), Some("aa-1"))
            .unwrap_err();
        assert!(!bad.is_missing());
        assert!(bad.to_string().contains("etsy_taxonomy_id"), "{bad}");
        let none = etsy.resolve(None, None).unwrap_err();
        assert!(none.is_missing());
        assert!(
            none.to_string().contains("set its category")
                && none.to_string().contains("etsy_taxonomy_id"),
            "{none}"
        );
        let unmapped = etsy
            .resolve(None, Some("gid://shopify/TaxonomyCategory/gc"))
            .unwrap_err();
        let text = unmapped.to_string();
        assert!(
            text.contains("Gift Cards") && text.contains("/v1/connections/etsy/category-map"),
            "{text}"
        );
    }

    #[test]
    fn quoted_fields_and_default_ancestors() {
        let rows = parse_defaults(
            "x  \"Books, Movies & Music\"  ABIS_BOOK # c\ny - PRODUCT\nz \"open PRODUCT\n",
        );
        assert_eq!(rows.len(), 2, "an unclosed quote skips the line: {rows:?}");
        assert_eq!(
            rows[0].etsy_category.as_deref(),
            Some("Books, Movies & Music")
        );
        assert_eq!(rows[1].etsy_category, None);
        let up: Vec<_> = default_ancestors(Marketplace::Amazon, "co-2-2").collect();
        assert_eq!(up, [("co", "PRODUCT")]);
        let up: Vec<_> = default_ancestors(Marketplace::Amazon, "aa-1-13-12").collect();
        assert_eq!(
            up,
            [("aa-1-13", "SHIRT"), ("aa-1", "PRODUCT"), ("aa", "PRODUCT")]
        );
    }

    #[test]
    fn targets_are_checked_per_marketplace() {
        assert_eq!(
            parse_target(Marketplace::Etsy, &json!("1429")),
            Ok("1429".to_owned())
        );
        assert!(parse_target(Marketplace::Etsy, &json!("14a")).is_err());
        assert!(parse_target(Marketplace::Etsy, &json!(0)).is_err());
        assert!(parse_target(Marketplace::Etsy, &json!(-3)).is_err());
        assert!(parse_target(Marketplace::Etsy, &json!(1.5)).is_err());
        assert_eq!(
            parse_target(Marketplace::Amazon, &json!("SHOES")),
            Ok("SHOES".to_owned())
        );
        assert!(parse_target(Marketplace::Amazon, &json!("shoes")).is_err());
        assert!(parse_target(Marketplace::Amazon, &json!("_X")).is_err());
        assert!(parse_target(Marketplace::Shopify, &json!("x")).is_err());
        assert!(known_category("gid://shopify/TaxonomyCategory/zz-9").is_err());
        assert_eq!(
            known_category("gid://shopify/TaxonomyCategory/aa-1").as_deref(),
            Ok("aa-1")
        );
    }
}
