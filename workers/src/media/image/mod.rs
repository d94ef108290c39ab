//! The image pipeline: sniff, check limits, decode (shrink-on-load) to sRGB, orient,
//! resize to the variant ladder, encode JPEG and WebP, and compute placeholders.
//!
//! ```no_run
//! use fleet_workers::media::image::{process, ImageSettings};
//! let bytes = std::fs::read("photo.jpg").unwrap();
//! let out = process(&bytes, &ImageSettings::default(), &mut Default::default()).unwrap();
//! for v in &out.variants {
//!     println!("{} {}x{} {:?} {} bytes", v.name, v.width, v.height, v.format, v.bytes.len());
//! }
//! ```

mod color;
mod decode;
mod encode;
mod heif;
mod jpeg_segments;
mod orient;
mod pixels;
mod placeholder;
mod resize;
mod sniff;

pub use color::{jpeg_icc_profile, to_srgb};
pub use decode::decode;
pub use encode::{OutputFormat, encode};
pub use orient::{apply as apply_orientation, exif_orientation};
pub use pixels::Pixels;
pub use placeholder::{Placeholders, placeholders};
pub use resize::{fit, resize};
pub use sniff::{ImageFormat, Sniffed, format_of, sniff};

use crate::media::MediaError;
use fleet_shared::config::MediaSettings;

/// What the pipeline produces for each image.
#[derive(Debug, Clone)]
pub struct ImageSettings {
    /// Largest accepted width × height of the source.
    pub max_pixels: u64,
    /// Longest side of each variant, ascending.
    pub sizes: Vec<u32>,
    /// Output formats of every size.
    pub formats: Vec<OutputFormat>,
    /// JPEG quality.
    pub jpeg_quality: u8,
    /// WebP quality.
    pub webp_quality: u8,
}

impl Default for ImageSettings {
    fn default() -> Self {
        ImageSettings::from(&MediaSettings::default())
    }
}

impl From<&MediaSettings> for ImageSettings {
    fn from(m: &MediaSettings) -> Self {
        let mut sizes = m.image_sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        ImageSettings {
            max_pixels: m.max_megapixels * 1_000_000,
            sizes,
            formats: vec![OutputFormat::Jpeg, OutputFormat::Webp],
            jpeg_quality: m.jpeg_quality,
            webp_quality: m.webp_quality,
        }
    }
}

/// One encoded output.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Ladder size it was made for (`"640"`).
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Format.
    pub format: OutputFormat,
    /// The encoded file.
    pub bytes: Vec<u8>,
}

/// The result of processing one image.
#[derive(Debug, Clone)]
pub struct ProcessedImage {
    /// Real format of the upload.
    pub format: ImageFormat,
    /// Upright width of the source.
    pub width: u32,
    /// Upright height of the source.
    pub height: u32,
    /// Every size in every format, smallest first.
    pub variants: Vec<Variant>,
    /// BlurHash and ThumbHash.
    pub placeholders: Placeholders,
}

/// The ladder sizes worth producing for a source whose longest side is `long`: every size
/// below it, then one at the source's own size (named after the next rung) — never upscaled.
pub fn ladder(sizes: &[u32], long: u32) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for &size in sizes {
        out.push((size.to_string(), size.min(long)));
        if size >= long {
            break;
        }
    }
    out
}

/// Resizes upright pixels to each of `rungs` and encodes every size in every format, smallest
/// first; also computes the placeholders.
pub fn variants_of(
    upright: &Pixels,
    rungs: &[(String, u32)],
    settings: &ImageSettings,
    resizer: &mut fast_image_resize::Resizer,
) -> Result<(Vec<Variant>, Placeholders), MediaError> {
    let placeholders = placeholders(resizer, upright)?;
    let mut variants = Vec::with_capacity(rungs.len() * settings.formats.len());
    for (name, size) in rungs {
        let (w, h) = fit(upright.width, upright.height, *size);
        let resized = resize(resizer, upright, w, h)?;
        for &format in &settings.formats {
            let quality = match format {
                OutputFormat::Jpeg => settings.jpeg_quality,
                OutputFormat::Webp => settings.webp_quality,
            };
            let bytes = encode(&resized, format, quality)?;
            variants.push(Variant {
                name: name.clone(),
                width: w,
                height: h,
                format,
                bytes,
            });
        }
    }
    Ok((variants, placeholders))
}

/// Runs the whole pipeline on an uploaded image.
pub fn process(
    bytes: &[u8],
    settings: &ImageSettings,
    resizer: &mut fast_image_resize::Resizer,
) -> Result<ProcessedImage, MediaError> {
    let sniffed = sniff(bytes, settings.max_pixels)?;
    let long = sniffed.width.max(sniffed.height);
    let rungs = ladder(&settings.sizes, long);
    let largest = rungs.last().map_or(long, |(_, size)| *size);
    let decoded = decode(bytes, &sniffed, largest)?;
    // libheif has already applied the HEIF container's rotation; its EXIF copy must not apply twice.
    let orientation = if sniffed.format.is_heif() {
        1
    } else {
        exif_orientation(bytes)
    };
    let upright = apply_orientation(decoded, orientation);
    let (width, height) = if orientation >= 5 {
        (sniffed.height, sniffed.width)
    } else {
        (sniffed.width, sniffed.height)
    };
    let (variants, placeholders) = variants_of(&upright, &rungs, settings, resizer)?;
    Ok(ProcessedImage {
        format: sniffed.format,
        width,
        height,
        variants,
        placeholders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ladder_never_upscales() {
        let sizes = [320, 640, 1280, 2048];
        let names = |long| {
            ladder(&sizes, long)
                .into_iter()
                .map(|(n, s)| format!("{n}:{s}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(6000),
            ["320:320", "640:640", "1280:1280", "2048:2048"]
        );
        assert_eq!(names(1000), ["320:320", "640:640", "1280:1000"]);
        assert_eq!(names(640), ["320:320", "640:640"]);
        assert_eq!(names(100), ["320:100"]);
    }
}
