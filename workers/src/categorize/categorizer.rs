//! The configured provider behind one call: the embedded ranking always runs
//! (it is the answer, or the shortlist for the chat model, and the fallback).

use super::{
    CategorizeError, Classification, ListingText, Suggestion, attributes,
    batcher::Batcher,
    embedded::{self, EmbeddedClassifier},
    openai::{self, Candidate, OpenAiClassifier},
};
use fleet_shared::{Config, config::CategorizeProvider};
use futures::{StreamExt, stream};
use std::sync::{Arc, OnceLock};

/// Chat requests in flight at once per call.
const REMOTE_CONCURRENCY: usize = 4;

/// Categorizes listings with the configured provider. Clone freely; the
/// model and its batching are shared: concurrent calls are ranked together.
#[derive(Debug, Clone)]
pub struct Categorizer {
    embedded: Arc<EmbeddedClassifier>,
    openai: Option<OpenAiClassifier>,
    suggestions: usize,
    /// Categories ranked per listing: the suggestions, or the chat model's shortlist.
    pool: usize,
    /// Listings per model call at most.
    max_batch: usize,
    /// Started by the first call, on its runtime.
    batcher: Arc<OnceLock<Batcher>>,
}

impl Categorizer {
    /// Loads the embedded model (off the async threads) and, if configured, the chat client.
    pub async fn load(config: &Config) -> Result<Categorizer, CategorizeError> {
        let owned = config.clone();
        let embedded = tokio::task::spawn_blocking(move || EmbeddedClassifier::load(&owned))
            .await
            .map_err(|e| CategorizeError::Inference(format!("model loading stopped: {e}")))??;
        Categorizer::with_embedded(Arc::new(embedded), config)
    }

    /// A categorizer on an already loaded embedded model.
    pub fn with_embedded(
        embedded: Arc<EmbeddedClassifier>,
        config: &Config,
    ) -> Result<Categorizer, CategorizeError> {
        let openai = match config.categorize.provider {
            CategorizeProvider::Embedded => None,
            CategorizeProvider::Openai => Some(OpenAiClassifier::new(&config.categorize.openai)?),
        };
        // Four model batches per core: every core busy, no call too long.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let suggestions = config.categorize.suggestions;
        let pool = suggestions
            .max(openai.as_ref().map_or(0, OpenAiClassifier::shortlist))
            .max(10);
        Ok(Categorizer {
            embedded,
            openai,
            suggestions,
            pool,
            max_batch: config.categorize.batch_size.max(1) * 4 * cores,
            batcher: Arc::new(OnceLock::new()),
        })
    }

    /// `embedded` or `openai`.
    pub fn provider_name(&self) -> &'static str {
        if self.openai.is_some() {
            openai::PROVIDER
        } else {
            embedded::PROVIDER
        }
    }

    /// The embedded model.
    pub fn embedded(&self) -> &Arc<EmbeddedClassifier> {
        &self.embedded
    }

    /// Most listings ranked in one model call: four batches per core.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Model calls made so far: fewer than calls to [`Categorizer::classify`]
    /// when concurrent calls were ranked together.
    pub fn model_calls(&self) -> u64 {
        self.batcher.get().map_or(0, Batcher::calls)
    }

    fn batcher(&self) -> &Batcher {
        self.batcher
            .get_or_init(|| Batcher::start(Arc::clone(&self.embedded), self.pool, self.max_batch))
    }

    /// Suggestions and attributes for each listing, in order. Calls made
    /// while the model is busy wait and are ranked together in its next call.
    pub async fn classify(
        &self,
        items: Vec<ListingText>,
    ) -> Result<Vec<Classification>, CategorizeError> {
        let ranked = self.batcher().rank(items.clone()).await?;
        let embedded: Vec<Classification> = items
            .iter()
            .zip(&ranked)
            .map(|(item, scored)| Classification {
                suggestions: self.embedded.suggestions_from(scored, self.suggestions),
                attributes: attributes::extract(item),
                fallback: None,
            })
            .collect();
        let Some(remote) = &self.openai else {
            return Ok(embedded);
        };
        let taxonomy = self.embedded.taxonomy();
        let take = self.suggestions;
        let owned: Vec<(ListingText, Vec<Candidate>, Classification)> = items
            .into_iter()
            .zip(&ranked)
            .zip(embedded)
            .map(|((item, scored), local)| {
                let candidates = scored
                    .iter()
                    .take(remote.shortlist())
                    .map(|s| {
                        let c = &taxonomy.categories[s.pos];
                        Candidate {
                            id: c.id.clone(),
                            full_path: c.full_path.clone(),
                        }
                    })
                    .collect();
                (item, candidates, local)
            })
            .collect();
        let jobs = owned.into_iter().map(|(item, candidates, local)| {
            let remote = remote.clone();
            async move {
                match remote.choose(&item, &candidates).await {
                    Ok(choice) => merge(choice, local, taxonomy, take),
                    Err(err) => {
                        tracing::warn!(error = %err, "chat model failed; using the embedded ranking");
                        Classification {
                            fallback: Some(err.to_string()),
                            ..local
                        }
                    }
                }
            }
        });
        Ok(stream::iter(jobs)
            .buffered(REMOTE_CONCURRENCY)
            .collect()
            .await)
    }
}

/// The chat model's choice first, then the embedded ranking's others, sharing what confidence is left.
fn merge(
    choice: openai::Choice,
    local: Classification,
    taxonomy: &fleet_shared::taxonomy::Taxonomy,
    take: usize,
) -> Classification {
    let Some(cat) = taxonomy.get(&choice.id) else {
        return Classification {
            fallback: Some(format!("unknown category `{}`", choice.id)),
            ..local
        };
    };
    let mut suggestions = vec![Suggestion {
        gid: cat.gid.clone(),
        full_path: cat.full_path.clone(),
        confidence: choice.confidence,
        provider: openai::PROVIDER.to_owned(),
    }];
    let rest = 1.0 - choice.confidence;
    suggestions.extend(
        local
            .suggestions
            .into_iter()
            .filter(|s| s.gid != cat.gid)
            .map(|s| Suggestion {
                confidence: (s.confidence * rest * 1000.0).round() / 1000.0,
                ..s
            }),
    );
    suggestions.truncate(take);
    Classification {
        suggestions,
        attributes: local.attributes,
        fallback: None,
    }
}
