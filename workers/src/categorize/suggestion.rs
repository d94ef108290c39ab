//! What a classifier answers: ranked category suggestions and attribute suggestions.

use serde::{Deserialize, Serialize};

/// The text (and images) of one listing, as classifiers read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingText {
    /// Title.
    pub title: String,
    /// Description (already truncated to the configured size).
    pub description: String,
    /// Brand the seller entered.
    pub brand: Option<String>,
    /// Image URLs (vision models only).
    pub image_urls: Vec<String>,
}

/// One ranked category suggestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suggestion {
    /// Taxonomy gid.
    pub gid: String,
    /// `Top > … > Name`.
    pub full_path: String,
    /// 0–1; the suggestions of one listing sum to at most 1.
    pub confidence: f32,
    /// `embedded` or `openai`.
    pub provider: String,
}

/// Attribute values the text states, as suggestions for export mappings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes {
    /// Colour in English (`black`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Size as written (`M`, `EU 42`, `W32 L30`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// Material in English (`leather`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// Brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// `women`, `men` or `unisex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `adult`, `kids` or `baby`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_group: Option<String>,
}

/// A classifier's answer for one listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Best first.
    pub suggestions: Vec<Suggestion>,
    /// Attributes found in the text.
    pub attributes: Attributes,
    /// Why the configured provider was not used, when it fell back to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl Classification {
    /// The best suggestion, if any.
    pub fn best(&self) -> Option<&Suggestion> {
        self.suggestions.first()
    }
}
