//! The categorize worker: suggests a Shopify-taxonomy category and attributes
//! for each listing, offline by default (all-MiniLM-L6-v2 in-process plus a
//! multilingual lexical signal), or through an OpenAI-compatible chat model.

pub mod attributes;
mod batcher;
mod categorizer;
pub mod config;
pub mod embedded;
mod error;
pub mod eval;
pub mod job;
pub mod lexical;
pub mod listing;
pub mod openai;
pub mod qualifiers;
pub mod suggestion;
pub mod synonyms;
pub mod text;
pub mod tfidf;

pub use categorizer::Categorizer;
pub use error::CategorizeError;
pub use job::CategorizeHandler;
pub use suggestion::{Attributes, Classification, ListingText, Suggestion};

use crate::{Services, runtime::Registry};
use std::sync::Arc;

/// Registers the categorize handler on the `categorize` queue; it applies
/// confident suggestions to the listings catalogue.
pub fn register(registry: &mut Registry, services: &Services) {
    let catalogue: Arc<dyn listing::ListingCategories> = Arc::new(services.db.clone());
    registry.register(
        fleet_jobs::queues::CATEGORIZE,
        CategorizeHandler::new(services.clone(), Some(catalogue)),
    );
}
