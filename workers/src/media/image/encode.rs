//! Encoding variants: progressive JPEG through libjpeg-turbo and WebP through
//! libwebp. Outputs are written from pixels alone, so no EXIF, GPS, XMP, IPTC
//! or ICC data from the upload can reach them.

use super::Pixels;
use crate::media::MediaError;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

/// An output format of the variant ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Progressive JPEG, 4:2:0, alpha flattened onto white.
    Jpeg,
    /// Lossy WebP, alpha kept.
    Webp,
}

impl OutputFormat {
    /// Format name (`jpeg`, `webp`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Webp => "webp",
        }
    }

    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Webp => "webp",
        }
    }

    /// MIME type.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
        }
    }
}

/// Encodes `pixels` as `format` at `quality` (0–100).
pub fn encode(pixels: &Pixels, format: OutputFormat, quality: u8) -> Result<Vec<u8>, MediaError> {
    match format {
        OutputFormat::Jpeg => encode_jpeg(pixels, quality),
        OutputFormat::Webp => encode_webp(pixels, quality),
    }
}

fn encode_jpeg(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, MediaError> {
    let flattened;
    let rgb = if pixels.channels == 4 {
        flattened = pixels.to_rgb_on_white();
        &flattened
    } else {
        pixels
    };
    let failed = |e: turbojpeg::Error| MediaError::Processing(format!("JPEG encoder: {e}"));
    let mut compressor = Compressor::new().map_err(failed)?;
    compressor
        .set_quality(i32::from(quality.min(100)))
        .map_err(failed)?;
    compressor.set_subsamp(Subsamp::Sub2x2).map_err(failed)?;
    compressor.set_progressive(true).map_err(failed)?;
    let width = rgb.width as usize;
    let image = turbojpeg::Image {
        pixels: rgb.data.as_slice(),
        width,
        pitch: width * 3,
        height: rgb.height as usize,
        format: PixelFormat::RGB,
    };
    compressor.compress_to_vec(image).map_err(failed)
}

fn encode_webp(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, MediaError> {
    let encoder = if pixels.channels == 4 {
        webp::Encoder::from_rgba(&pixels.data, pixels.width, pixels.height)
    } else {
        webp::Encoder::from_rgb(&pixels.data, pixels.width, pixels.height)
    };
    let mut config = webp::WebPConfig::new()
        .map_err(|()| MediaError::Processing("WebP encoder: bad config".to_owned()))?;
    config.quality = f32::from(quality.min(100));
    config.method = 4;
    encoder
        .encode_advanced(&config)
        .map(|memory| memory.to_vec())
        .map_err(|e| MediaError::Processing(format!("WebP encoder: {e:?}")))
}
