//! Marketplace exports, the parts the API and the export worker share:
//! connections and their sealed credentials, and the vocabulary of runs.

pub mod amazon;
pub mod amazon_marketplaces;
pub mod cache;
pub mod category_map;
pub mod connection;
pub mod etsy;
pub mod shopify;

use crate::db::listings::{Condition, ListingFilter};
use serde::{Deserialize, Serialize};

/// Declares a string-stored enum with its stored names.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value stored as `s`.
            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

stored_enum! {
    /// Where a run is.
    RunStatus {
        /// Its listings are being selected into chunks.
        Planning = "planning",
        /// Chunks are being exported.
        Running = "running",
        /// Every item was exported (or skipped as unchanged).
        Succeeded = "succeeded",
        /// Done, and some items failed.
        CompletedWithErrors = "completed_with_errors",
        /// Stopped early (a revoked credential, an unusable connection).
        Failed = "failed",
        /// Cancelled by the seller.
        Cancelled = "cancelled",
    }
}

impl RunStatus {
    /// Whether the run will change no more.
    pub fn is_final(self) -> bool {
        !matches!(self, RunStatus::Planning | RunStatus::Running)
    }
}

stored_enum! {
    /// Where one listing of a run is.
    ItemStatus {
        /// Not exported yet.
        Pending = "pending",
        /// The marketplace accepted it (or, in a dry run, it would be sent).
        Succeeded = "succeeded",
        /// Invalid for the marketplace or refused by it; `error` says why.
        Failed = "failed",
        /// Not sent: unchanged since the last export, or the run stopped first.
        Skipped = "skipped",
    }
}

stored_enum! {
    /// How a run delivers listings.
    ExportMode {
        /// Through the marketplace's API.
        Push = "push",
        /// As import files in the blob store.
        File = "file",
    }
}

stored_enum! {
    /// The file format of a file-mode run.
    FileFormat {
        /// Shopify's product import CSV.
        ShopifyCsv = "shopify_csv",
        /// Amazon's JSON_LISTINGS_FEED (up to 25,000 messages per file).
        AmazonJson = "amazon_json",
        /// One row per listing with every Fleet field.
        GenericCsv = "generic_csv",
    }
}

/// Which listings a run exports: `{"ids": […]}` or `{"all": true, "filter": {…}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// These listings (at most 10,000).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// Every listing of the seller matching `filter`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Narrows `all`.
    #[serde(default)]
    pub filter: SelectionFilter,
}

/// Narrows an `all` selection; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionFilter {
    /// This condition.
    pub condition: Option<Condition>,
    /// This category gid.
    pub category: Option<String>,
    /// With (true) or without (false) a category.
    pub has_category: Option<bool>,
    /// This brand.
    pub brand: Option<String>,
}

impl SelectionFilter {
    /// The listing filter it stands for.
    pub fn listing_filter(&self) -> ListingFilter {
        ListingFilter {
            condition: self.condition,
            category: self.category.clone(),
            has_category: self.has_category,
            brand: self.brand.clone(),
            ..ListingFilter::default()
        }
    }
}
