//! Why a media job failed, worded for the seller who uploaded the file.

/// A media processing failure; `Unsupported` and `Invalid` are the uploader's, the rest are ours.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A format Fleet does not accept.
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// The file is damaged or not what it claims to be.
    #[error("invalid image: {0}")]
    Invalid(String),
    /// The file exceeds a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// An encoder or resizer failed on valid input.
    #[error("processing failed: {0}")]
    Processing(String),
}

impl MediaError {
    /// Whether retrying the same file can never help.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MediaError::Processing(_))
    }
}
