//! Settings of the media worker and the upload limits the API enforces.

use serde::{Deserialize, Serialize};

/// Limits and outputs of media processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSettings {
    /// Largest accepted photo upload, in bytes.
    pub max_photo_bytes: u64,
    /// Largest accepted video upload, in bytes.
    pub max_video_bytes: u64,
    /// Largest accepted image, in megapixels (checked from the header before decoding).
    pub max_megapixels: u64,
    /// Longest side of each image variant, in pixels.
    pub image_sizes: Vec<u32>,
    /// JPEG quality of variants (1–100).
    pub jpeg_quality: u8,
    /// WebP quality of variants (1–100).
    pub webp_quality: u8,
    /// How long an upload URL stays valid, in seconds.
    pub upload_url_ttl_secs: u64,
    /// How long a variant download URL stays valid, in seconds.
    pub download_url_ttl_secs: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        MediaSettings {
            max_photo_bytes: 25 * 1024 * 1024,
            max_video_bytes: 500 * 1024 * 1024,
            max_megapixels: 50,
            image_sizes: vec![320, 640, 1280, 2048],
            jpeg_quality: 80,
            webp_quality: 80,
            upload_url_ttl_secs: 15 * 60,
            download_url_ttl_secs: 60 * 60,
        }
    }
}
