//! The chat completions request: the listing, the shortlist, and a JSON
//! schema that only admits the shortlist's ids.

use crate::categorize::ListingText;
use serde_json::{Value, json};

/// One candidate offered to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Short taxonomy id (`aa-1-13-8`).
    pub id: String,
    /// `Top > … > Name`.
    pub full_path: String,
}

const SYSTEM: &str = "You categorize second-hand marketplace listings into the Shopify Standard Product Taxonomy. \
Listings may be in any language. Choose the single most specific category from the candidates that fits the item \
being sold (not its accessories or packaging). Answer with JSON only.";

/// The JSON schema of the answer: one of the candidate ids and a confidence.
pub fn answer_schema(candidates: &[Candidate]) -> Value {
    let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "category_id": {"type": "string", "enum": ids},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        },
        "required": ["category_id", "confidence"],
        "additionalProperties": false
    })
}

/// The request body for `POST {base}/chat/completions`.
pub fn body(model: &str, item: &ListingText, candidates: &[Candidate], images: bool) -> Value {
    let mut prompt = format!("Title: {}\n", item.title.trim());
    if let Some(brand) = item.brand.as_deref().filter(|b| !b.trim().is_empty()) {
        prompt.push_str(&format!("Brand: {}\n", brand.trim()));
    }
    if !item.description.trim().is_empty() {
        prompt.push_str(&format!(
            "Description: {}\n",
            crate::categorize::text::truncate(item.description.trim(), 2_000)
        ));
    }
    prompt.push_str("\nCandidates (id: category):\n");
    for c in candidates {
        prompt.push_str(&format!("{}: {}\n", c.id, c.full_path));
    }
    let content = if images && !item.image_urls.is_empty() {
        let mut parts = vec![json!({"type": "text", "text": prompt})];
        for url in item.image_urls.iter().take(4) {
            parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
        }
        Value::Array(parts)
    } else {
        Value::String(prompt)
    };
    json!({
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": content}
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "category_choice",
                "strict": true,
                "schema": answer_schema(candidates)
            }
        }
    })
}
