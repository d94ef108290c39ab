//! The video pipeline: probe an upload (streams, duration, rotation, limits),
//! transcode it once into H.264/AAC MP4 renditions (upright, 720p and
//! optionally 1080p, index first for streaming), and make a poster from its
//! middle frame through the image ladder. Runs on FFmpeg's libraries.
//!
//! ```no_run
//! use fleet_workers::media::video::{process, Progress, VideoSettings};
//! let dir = std::env::temp_dir();
//! let out = process("clip.mp4".as_ref(), &dir, &VideoSettings::default(), &Progress::default()).unwrap();
//! for r in &out.transcoded.renditions {
//!     println!("{} {}x{} at {}", r.rendition.name, r.rendition.width, r.rendition.height, r.path.display());
//! }
//! ```

mod filters;
mod probe;
mod rendition;
mod rotation;
mod transcode;

pub use probe::{AudioStream, Probe, VideoStream, container_of, probe};
pub use rendition::{Rendition, fit, renditions};
pub use rotation::{from_display_matrix, from_tag};
pub use transcode::{RenditionFile, Transcoded, transcode};

use super::{
    MediaError,
    image::{ImageSettings, Placeholders, Variant, ladder, variants_of},
};
use fleet_shared::config::MediaSettings;
use std::{
    path::Path,
    sync::{
        Once,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

/// Limits and encoder settings of the video pipeline.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    /// Longest accepted duration, in seconds.
    pub max_secs: u64,
    /// Largest accepted long side of the frame.
    pub max_long_side: u32,
    /// Largest accepted short side of the frame.
    pub max_short_side: u32,
    /// x264 preset.
    pub preset: String,
    /// x264 constant rate factor.
    pub crf: u8,
    /// AAC bit rate in kb/s.
    pub audio_kbps: u32,
    /// Rendition heights (short sides), ascending: `[720]` or `[720, 1080]`.
    pub renditions: Vec<u32>,
    /// Decoder and encoder threads (0: automatic).
    pub threads: u32,
    /// The ladder the poster goes through.
    pub image: ImageSettings,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings::from(&MediaSettings::default())
    }
}

impl From<&MediaSettings> for VideoSettings {
    fn from(m: &MediaSettings) -> Self {
        let mut renditions = vec![720];
        if m.video_1080p {
            renditions.push(1080);
        }
        VideoSettings {
            max_secs: m.max_video_secs,
            max_long_side: m.max_video_long_side,
            max_short_side: m.max_video_short_side,
            preset: m.video_preset.clone(),
            crf: m.video_crf,
            audio_kbps: m.video_audio_kbps,
            renditions,
            threads: m.video_threads,
            image: ImageSettings::from(m),
        }
    }
}

/// Frames done out of frames expected, shared between the transcoding thread and the job; also
/// carries the job's request to stop.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
}

impl Progress {
    /// Records `done` of `total` frames.
    pub fn set(&self, done: u64, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }

    /// Frames done and expected so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Asks the transcoder to stop at the next packet.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// A processed video: its MP4 renditions on disk and its poster variants.
#[derive(Debug, Clone)]
pub struct ProcessedVideo {
    /// What the upload holds, and the renditions made.
    pub transcoded: Transcoded,
    /// The poster through the image ladder (`poster-320`, … in every image format).
    pub poster: Vec<Variant>,
    /// BlurHash and ThumbHash of the poster.
    pub placeholders: Placeholders,
}

/// Prepares FFmpeg once per process: formats registered, its own logging limited to fatal
/// errors (every failure reaches the job as an error with a reason instead).
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Registration cannot fail on FFmpeg 4+; an error here would resurface on open.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}

/// Runs the whole pipeline on the video at `input`, writing renditions into `dir`.
pub fn process(
    input: &Path,
    dir: &Path,
    settings: &VideoSettings,
    progress: &Progress,
) -> Result<ProcessedVideo, MediaError> {
    let largest = settings.image.sizes.last().copied().unwrap_or(1280);
    let transcoded = transcode(input, dir, settings, largest, progress)?;
    let poster = &transcoded.poster;
    let rungs: Vec<(String, u32)> = ladder(&settings.image.sizes, poster.width.max(poster.height))
        .into_iter()
        .map(|(name, size)| (format!("poster-{name}"), size))
        .collect();
    let (poster, placeholders) = variants_of(
        poster,
        &rungs,
        &settings.image,
        &mut fast_image_resize::Resizer::new(),
    )?;
    Ok(ProcessedVideo {
        transcoded,
        poster,
        placeholders,
    })
}
