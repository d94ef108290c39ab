//! The `media` worker kind: turns uploaded photos into small, upright,
//! metadata-free variants.

mod error;
mod handler;
pub mod image;

pub use error::MediaError;
pub use handler::ProcessMediaHandler;
