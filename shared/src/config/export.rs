//! Settings of marketplace exports: chunk size, marketplace API addresses, and
//! how long image URLs handed to a marketplace stay valid.

use serde::{Deserialize, Serialize};

/// How export runs are split and where the marketplaces are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportSettings {
    /// Listings per chunk job (several workers share a run chunk by chunk).
    pub chunk_size: usize,
    /// Most listings in one run.
    pub max_listings_per_run: usize,
    /// Base URL of a shop's Admin API; `{shop}` is replaced by the shop's
    /// myshopify.com domain. Tests point it at a local fake.
    pub shopify_api_base: String,
    /// Admin API version in the endpoint path.
    pub shopify_api_version: String,
    /// Base URL of Amazon's Selling Partner API; `{region}` is the connection's `na`, `eu` or `fe`.
    pub amazon_api_base: String,
    /// Login with Amazon's token endpoint (refresh token → access token).
    pub amazon_token_url: String,
    /// Base URL of Etsy's Open API v3 (`…/v3/application`).
    pub etsy_api_base: String,
    /// Etsy's OAuth token endpoint (refresh token → new token pair).
    pub etsy_token_url: String,
    /// How long the photo URLs given to a marketplace (which downloads them later) stay valid.
    pub image_url_ttl_secs: u64,
    /// Longest a chunk waits for a marketplace's rate limit before giving its slot back (retry later).
    pub max_throttle_wait_secs: u64,
}

impl Default for ExportSettings {
    fn default() -> Self {
        ExportSettings {
            chunk_size: 100,
            max_listings_per_run: 100_000,
            shopify_api_base: "https://{shop}".to_owned(),
            shopify_api_version: "2025-10".to_owned(),
            amazon_api_base: "https://sellingpartnerapi-{region}.amazon.com".to_owned(),
            amazon_token_url: "https://api.amazon.com/auth/o2/token".to_owned(),
            etsy_api_base: "https://openapi.etsy.com/v3/application".to_owned(),
            etsy_token_url: "https://api.etsy.com/v3/public/oauth/token".to_owned(),
            image_url_ttl_secs: 7 * 24 * 3600,
            max_throttle_wait_secs: 120,
        }
    }
}
