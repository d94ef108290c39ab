//! Where categorize meets the listings catalogue: a small interface the
//! catalogue implements (read a listing's category, set a suggested one), and
//! the rule deciding what to do with a classification: apply the best
//! suggestion at or above the threshold, never over a seller's own choice.

use super::Suggestion;
use fleet_shared::{Db, DbError, db::listings::CategorySource};
use futures::future::BoxFuture;

/// A listing's category as the catalogue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCategory {
    /// The category gid, if any.
    pub gid: Option<String>,
    /// Whether the seller chose it by hand (then it is never replaced).
    pub set_by_seller: bool,
}

/// What the categorize job needs from the listings catalogue.
pub trait ListingCategories: Send + Sync + 'static {
    /// The listing's category, or `None` when the listing does not exist (deleted since).
    fn current<'a>(
        &'a self,
        listing_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CurrentCategory>, DbError>>;

    /// Sets `gid` as the listing's automatically chosen category, in one statement
    /// that does nothing when the seller has set one meanwhile. Returns whether it was set.
    fn apply<'a>(
        &'a self,
        listing_id: &'a str,
        gid: &'a str,
    ) -> BoxFuture<'a, Result<bool, DbError>>;
}

/// The listings catalogue in the database.
impl ListingCategories for Db {
    fn current<'a>(
        &'a self,
        listing_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CurrentCategory>, DbError>> {
        Box::pin(async move {
            Ok(self.listing(listing_id).await?.map(|l| CurrentCategory {
                set_by_seller: l.category_source == Some(CategorySource::Seller),
                gid: l.category,
            }))
        })
    }

    fn apply<'a>(
        &'a self,
        listing_id: &'a str,
        gid: &'a str,
    ) -> BoxFuture<'a, Result<bool, DbError>> {
        Box::pin(self.apply_auto_category(listing_id, gid))
    }
}

/// What happened to a listing's suggestions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The best suggestion became the listing's category.
    Applied,
    /// The best suggestion is below the threshold: it waits for the seller.
    BelowThreshold,
    /// The seller chose a category by hand; it was kept.
    SellerSet,
    /// The listing no longer exists.
    NoListing,
    /// No catalogue is connected: suggestions are stored, nothing applied.
    Pending,
}

impl Outcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::BelowThreshold => "below_threshold",
            Outcome::SellerSet => "seller_set",
            Outcome::NoListing => "no_listing",
            Outcome::Pending => "pending",
        }
    }
}

/// What to do, given the listing's current category and the best suggestion.
/// `Applied` here means "apply it"; the catalogue's conditional update has the last word.
pub fn decide(
    current: Option<&CurrentCategory>,
    best: Option<&Suggestion>,
    threshold: f32,
) -> Outcome {
    let Some(current) = current else {
        return Outcome::NoListing;
    };
    if current.set_by_seller {
        return Outcome::SellerSet;
    }
    match best {
        Some(s) if s.confidence >= threshold => Outcome::Applied,
        _ => Outcome::BelowThreshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggestion(confidence: f32) -> Suggestion {
        Suggestion {
            gid: "gid://shopify/TaxonomyCategory/aa-1-4".into(),
            full_path: "Apparel & Accessories > Clothing > Dresses".into(),
            confidence,
            provider: "embedded".into(),
        }
    }

    #[test]
    fn seller_choice_is_never_overwritten() {
        let by_seller = CurrentCategory {
            gid: Some("gid://shopify/TaxonomyCategory/aa-1-15".into()),
            set_by_seller: true,
        };
        let auto = CurrentCategory {
            gid: None,
            set_by_seller: false,
        };
        assert_eq!(
            decide(Some(&by_seller), Some(&suggestion(0.99)), 0.6),
            Outcome::SellerSet
        );
        assert_eq!(
            decide(Some(&auto), Some(&suggestion(0.7)), 0.6),
            Outcome::Applied
        );
        assert_eq!(
            decide(Some(&auto), Some(&suggestion(0.6)), 0.6),
            Outcome::Applied
        );
        assert_eq!(
            decide(Some(&auto), Some(&suggestion(0.5)), 0.6),
            Outcome::BelowThreshold
        );
        assert_eq!(decide(Some(&auto), None, 0.6), Outcome::BelowThreshold);
        assert_eq!(
            decide(None, Some(&suggestion(0.9)), 0.6),
            Outcome::NoListing
        );
    }
}
