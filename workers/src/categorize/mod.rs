//! The categorize worker: suggests a Shopify-taxonomy category and attributes
//! for each listing, offline by default (all-MiniLM-L6-v2 in-process plus a
//! multilingual lexical signal), or through an OpenAI-compatible chat model.

pub mod attributes;
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

/// Registers the categorize handler on the `categorize` queue. Categories are
/// suggested and recorded; applying them needs the listings catalogue's
/// [`listing::ListingCategories`] (pass it to [`CategorizeHandler::new`]).
pub fn register(registry: &mut Registry, services: &Services) {
    registry.register(
        fleet_jobs::queues::CATEGORIZE,
        CategorizeHandler::new(services.clone(), None),
    );
}
