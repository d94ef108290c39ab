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
    /// Longest accepted video, in seconds.
    pub max_video_secs: u64,
    /// Largest accepted video frame, long side in pixels (3840 for 4K).
    pub max_video_long_side: u32,
    /// Largest accepted video frame, short side in pixels (2160 for 4K).
    pub max_video_short_side: u32,
    /// x264 preset of video renditions (`ultrafast` … `veryslow`).
    pub video_preset: String,
    /// x264 constant rate factor of video renditions (0–51, lower is better).
    pub video_crf: u8,
    /// AAC bit rate of video renditions, in kb/s.
    pub video_audio_kbps: u32,
    /// Also make a 1080p rendition beside the 720p one.
    pub video_1080p: bool,
    /// Threads of each video decoder and encoder (0: FFmpeg picks from the CPU count).
    pub video_threads: u32,
    /// Directory for the temporary files of video jobs (the system's temp directory when unset).
    pub temp_dir: Option<std::path::PathBuf>,
}

/// x264's presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

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
            max_video_secs: 180,
            max_video_long_side: 3840,
            max_video_short_side: 2160,
            video_preset: "veryfast".to_owned(),
            video_crf: 23,
            video_audio_kbps: 128,
            video_1080p: false,
            video_threads: 0,
            temp_dir: None,
        }
    }
}
