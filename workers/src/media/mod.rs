//! The `media` worker kind: turns uploaded photos into small, upright,
//! metadata-free variants, and videos into H.264/AAC MP4 renditions with a poster.

mod error;
mod handler;
pub mod image;
mod scratch;
mod source;
pub mod video;

pub use error::MediaError;
pub use handler::ProcessMediaHandler;
