//! The OpenAI-compatible provider: a chat model (OpenAI, Ollama, vLLM, any
//! `/v1/chat/completions`) picks one category from the embedded model's
//! shortlist, answering through a JSON schema that only admits those ids.
//! Any failure (timeout, 429 after retries, malformed JSON, an id that is not
//! a candidate) is returned as an error so the caller falls back to the
//! embedded ranking.

pub mod request;
pub mod response;

use super::{CategorizeError, ListingText};
use fleet_shared::{
    config::OpenAiSettings,
    http::{HttpClient, HttpSettings},
};
pub use request::Candidate;
pub use response::Choice;
use std::time::Duration;

/// Provider name recorded with suggestions.
pub const PROVIDER: &str = "openai";

/// Largest completion body read, in bytes.
const MAX_BODY: usize = 1024 * 1024;

/// A client of one OpenAI-compatible endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiClassifier {
    http: HttpClient,
    settings: OpenAiSettings,
    url: String,
}

fn remote(message: impl Into<String>) -> CategorizeError {
    CategorizeError::Remote(message.into())
}

impl OpenAiClassifier {
    /// A client for `settings` (timeouts and retries from them).
    pub fn new(settings: &OpenAiSettings) -> Result<OpenAiClassifier, CategorizeError> {
        let http = HttpClient::new(HttpSettings {
            request_timeout: Duration::from_secs(settings.timeout_secs),
            max_retries: settings.max_retries,
            backoff_base: Duration::from_millis(250),
            max_wait: Duration::from_secs(10),
            ..HttpSettings::default()
        })
        .map_err(|e| remote(e.to_string()))?;
        Ok(OpenAiClassifier {
            http,
            url: format!(
                "{}/chat/completions",
                settings.base_url.trim_end_matches('/')
            ),
            settings: settings.clone(),
        })
    }

    /// How many candidates to offer.
    pub fn shortlist(&self) -> usize {
        self.settings.shortlist
    }

    /// Asks the model to choose among `candidates` for `item`.
    pub async fn choose(
        &self,
        item: &ListingText,
        candidates: &[Candidate],
    ) -> Result<Choice, CategorizeError> {
        let body = request::body(
            &self.settings.model,
            item,
            candidates,
            self.settings.send_images,
        );
        let mut builder = self.http.inner().post(&self.url).json(&body);
        if let Some(key) = &self.settings.api_key {
            builder = builder.bearer_auth(key);
        }
        let request = builder.build().map_err(|e| remote(e.to_string()))?;
        // Choosing a category has no side effect: retrying is safe.
        let response = self
            .http
            .send(request, true)
            .await
            .map_err(|e| remote(e.to_string()))?;
        let status = response.status();
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(remote(format!("answer larger than {MAX_BODY} bytes")));
        }
        let bytes = response.bytes().await.map_err(|e| remote(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(remote(format!("HTTP {}: {text}", status.as_u16())));
        }
        if bytes.len() > MAX_BODY {
            return Err(remote(format!("answer larger than {MAX_BODY} bytes")));
        }
        let text = String::from_utf8_lossy(&bytes);
        response::parse(&text, candidates).map_err(remote)
    }
}
