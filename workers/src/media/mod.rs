//! The `media` worker kind: turns uploaded photos into small, upright,
//! metadata-free variants.

mod error;
pub mod image;

pub use error::MediaError;
