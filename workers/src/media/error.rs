//! Why a media job failed, worded for the seller who uploaded the file.

/// A media processing failure; `Unsupported`, `Invalid`, `InvalidVideo` and `TooLarge` are the
/// uploader's, the rest are ours.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// A format Fleet does not accept.
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    /// The file is damaged or not what it claims to be.
    #[error("invalid image: {0}")]
    Invalid(String),
    /// The video is damaged, truncated or not a video.
    #[error("invalid video: {0}")]
    InvalidVideo(String),
    /// The file exceeds a configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// An encoder or resizer failed on valid input.
    #[error("processing failed: {0}")]
    Processing(String),
    /// The job was abandoned (timed out or shut down) while the file was being processed.
    #[error("processing was cancelled")]
    Cancelled,
}

impl MediaError {
    /// Whether retrying the same file can never help.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, MediaError::Processing(_) | MediaError::Cancelled)
    }
}
