//! Opening an upload as a video and reading what it holds: container,
//! duration, the video stream's codec, size and rotation, the audio stream;
//! then checking it against the configured limits.

use super::{VideoSettings, rotation};
use crate::media::MediaError;
use ffmpeg_next::{self as ffmpeg, Dictionary, Rational, codec, format, media};
use std::path::Path;

/// Demuxers an upload may use: MP4/MOV (phones), Matroska/WebM, AVI. Anything else (image
/// sequences, playlists, concat lists that would read other files) is refused before probing.
const DEMUXERS: &str = "mov,mp4,matroska,webm,avi";

/// Video codecs accepted in uploads: what phones, cameras and browsers record.
const VIDEO_CODECS: [codec::Id; 8] = [
    codec::Id::H264,
    codec::Id::HEVC,
    codec::Id::VP8,
    codec::Id::VP9,
    codec::Id::AV1,
    codec::Id::MPEG4,
    codec::Id::MJPEG,
    codec::Id::PRORES,
];

/// The video stream of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoStream {
    /// Stream index in the container.
    pub index: usize,
    /// Codec name (`h264`, `hevc`).
    pub codec: String,
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Clockwise rotation a player applies (0, 90, 180, 270).
    pub rotation: u32,
    /// Average frame rate, when the container knows it.
    pub frame_rate: Option<Rational>,
    /// Frame count stored in the container (MP4's sample table), when there is one.
    pub frames: Option<u64>,
}

/// The audio stream of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioStream {
    /// Stream index in the container.
    pub index: usize,
    /// Codec name (`aac`, `opus`).
    pub codec: String,
}

/// What an upload holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Demuxer that recognised the file (`mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// The best video stream.
    pub video: VideoStream,
    /// The best audio stream, if any.
    pub audio: Option<AudioStream>,
}

impl Probe {
    /// Width and height as shown: after rotation.
    pub fn upright_size(&self) -> (u32, u32) {
        if self.video.rotation % 180 == 90 {
            (self.video.height, self.video.width)
        } else {
            (self.video.width, self.video.height)
        }
    }

    /// Frames the video is expected to have: the container's count, else duration × frame rate.
    pub fn expected_frames(&self) -> u64 {
        if let Some(frames) = self.video.frames {
            return frames;
        }
        let rate = self.video.frame_rate.map_or(30.0, |r| {
            f64::from(r.numerator()) / f64::from(r.denominator())
        });
        ((self.duration_ms as f64 / 1000.0) * rate).round().max(1.0) as u64
    }

    /// Refuses a video above the configured duration or frame size.
    pub fn check(&self, settings: &VideoSettings) -> Result<(), MediaError> {
        let max_ms = settings.max_secs.saturating_mul(1000);
        if self.duration_ms as u64 > max_ms {
            return Err(MediaError::TooLarge(format!(
                "the video is {} long; the limit is {}",
                clock(self.duration_ms as u64),
                clock(max_ms)
            )));
        }
        let (w, h) = (self.video.width, self.video.height);
        if w.max(h) > settings.max_long_side || w.min(h) > settings.max_short_side {
            return Err(MediaError::TooLarge(format!(
                "the video is {w}x{h}; the limit is {}x{} (either orientation)",
                settings.max_long_side, settings.max_short_side
            )));
        }
        Ok(())
    }
}

/// `m:ss.s` for a duration in milliseconds.
fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    if ms.is_multiple_of(1000) {
        format!("{}:{:02}", secs / 60, secs % 60)
    } else {
        format!("{}:{:02}.{}", secs / 60, secs % 60, ms % 1000 / 100)
    }
}

/// The container family `header` (a file's first bytes) starts like, from its magic bytes.
pub fn container_of(header: &[u8]) -> Option<&'static str> {
    match header {
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => Some("mp4"),
        // QuickTime files older than `ftyp` start with another top-level atom.
        [_, _, _, _, b'm', b'o', b'o', b'v', ..]
        | [_, _, _, _, b'm', b'd', b'a', b't', ..]
        | [_, _, _, _, b'w', b'i', b'd', b'e', ..]
        | [_, _, _, _, b'f', b'r', b'e', b'e', ..]
        | [_, _, _, _, b's', b'k', b'i', b'p', ..] => Some("mov"),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Some("matroska"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'A',
            b'V',
            b'I',
            b' ',
            ..,
        ] => Some("avi"),
        _ => None,
    }
}

/// Opens `path` as a video (only the demuxers Fleet accepts, only local file access).
pub fn open(path: &Path) -> Result<format::context::Input, MediaError> {
    super::init();
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut file| {
            let mut filled = 0;
            while filled < header.len() {
                match std::io::Read::read(&mut file, &mut header[filled..])? {
                    0 => break,
                    n => filled += n,
                }
            }
            Ok(filled)
        })
        .map_err(|e| MediaError::Processing(format!("cannot read the upload: {e}")))?;
    if read == 0 {
        return Err(MediaError::InvalidVideo("the file is empty".to_owned()));
    }
    if container_of(&header[..read]).is_none() {
        return Err(MediaError::Unsupported(
            "not an MP4, MOV, WebM, Matroska or AVI video (checked by content, not by name)"
                .to_owned(),
        ));
    }
    let mut options = Dictionary::new();
    options.set("format_whitelist", DEMUXERS);
    options.set("protocol_whitelist", "file");
    format::input_with_dictionary(path, options).map_err(|e| match e {
        ffmpeg::Error::InvalidData | ffmpeg::Error::Eof => MediaError::InvalidVideo(format!(
            "the file is truncated or damaged and cannot be read as a video ({e}); \
             a video whose recording was interrupted often lacks its index (moov atom)"
        )),
        _ => MediaError::Unsupported(format!(
            "not an MP4, MOV, WebM, Matroska or AVI video (checked by content, not by name): {e}"
        )),
    })
}

/// Reads the streams, duration and rotation of an opened file.
pub fn inspect(input: &format::context::Input) -> Result<Probe, MediaError> {
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| MediaError::InvalidVideo("the file has no video stream".to_owned()))?;
    let params = stream.parameters();
    let id = params.id();
    if !VIDEO_CODECS.contains(&id) {
        return Err(MediaError::Unsupported(format!(
            "video codec `{}` is not accepted; upload H.264, HEVC, VP8, VP9, AV1 or MPEG-4 video",
            id.name()
        )));
    }
    if ffmpeg::decoder::find(id).is_none() {
        return Err(MediaError::Unsupported(format!(
            "this server cannot decode `{}` video",
            id.name()
        )));
    }
    // SAFETY: `params` points at the stream's live AVCodecParameters for as long as `input` lives.
    let (width, height) = unsafe {
        let p = params.as_ptr();
        ((*p).width, (*p).height)
    };
    let (width, height) = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(MediaError::InvalidVideo(format!(
                "the video stream declares a {width}x{height} picture"
            )));
        }
    };
    let rotation = stream
        .side_data()
        .find(|sd| sd.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
        .and_then(|sd| rotation::parse_display_matrix(sd.data()))
        .map(|m| rotation::from_display_matrix(&m))
        .or_else(|| stream.metadata().get("rotate").and_then(rotation::from_tag))
        .unwrap_or(0);
    let rate = stream.avg_frame_rate();
    let frame_rate = (rate.numerator() > 0 && rate.denominator() > 0).then_some(rate);
    let frames = u64::try_from(stream.frames()).ok().filter(|&n| n > 0);
    let duration_ms = duration_ms(input, &stream);
    if duration_ms <= 0 {
        return Err(MediaError::InvalidVideo(
            "the file does not say how long the video is".to_owned(),
        ));
    }
    let video = VideoStream {
        index: stream.index(),
        codec: id.name().to_owned(),
        width,
        height,
        rotation,
        frame_rate,
        frames,
    };
    let audio = match input.streams().best(media::Type::Audio) {
        None => None,
        Some(a) => {
            let id = a.parameters().id();
            if ffmpeg::decoder::find(id).is_none() {
                return Err(MediaError::Unsupported(format!(
                    "audio codec `{}` cannot be decoded; upload AAC, MP3 or Opus audio",
                    id.name()
                )));
            }
            Some(AudioStream {
                index: a.index(),
                codec: id.name().to_owned(),
            })
        }
    };
    Ok(Probe {
        container: input.format().name().to_owned(),
        duration_ms,
        video,
        audio,
    })
}

/// The container's duration, else the video stream's, in milliseconds.
fn duration_ms(input: &format::context::Input, stream: &format::stream::Stream) -> i64 {
    let container = input.duration();
    if container > 0 {
        // AV_TIME_BASE is microseconds.
        return container / 1000;
    }
    let tb = stream.time_base();
    if stream.duration() > 0 && tb.denominator() > 0 {
        return stream.duration() * 1000 * i64::from(tb.numerator()) / i64::from(tb.denominator());
    }
    0
}

/// Opens and inspects `path` in one step.
pub fn probe(path: &Path) -> Result<Probe, MediaError> {
    inspect(&open(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_containers_by_magic() {
        assert_eq!(container_of(b"\0\0\0\x20ftypisom\0\0\x02\0"), Some("mp4"));
        assert_eq!(container_of(b"\0\0\0\x08wide\0\0"), Some("mov"));
        assert_eq!(container_of(b"\x1A\x45\xDF\xA3\x9f"), Some("matroska"));
        assert_eq!(container_of(b"RIFF\0\0\0\0AVI LIST"), Some("avi"));
        assert_eq!(container_of(b"RIFF\0\0\0\0WEBPVP8 "), None);
        assert_eq!(container_of(b"\xFF\xD8\xFF\xE0"), None);
        assert_eq!(container_of(b"hello"), None);
    }

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(clock(180_000), "3:00");
        assert_eq!(clock(252_500), "4:12.5");
        assert_eq!(clock(6_000), "0:06");
    }
}
