//! Decoding to sRGB [`Pixels`]: JPEG through libjpeg-turbo with shrink-on-load
//! (the DCT scales to the smallest size still at least as large as needed),
//! PNG, WebP and GIF (first frame) through the `image` crate under memory
//! limits, HEIC and AVIF through libheif; embedded ICC profiles are applied.

use super::{ImageFormat, Pixels, Sniffed, color, jpeg_segments::jpeg_segments};
use crate::media::MediaError;
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

/// Decodes `bytes` (already sniffed) to sRGB, scaled down on load where the format allows so
/// that the longest side stays at least `min_long_side`.
pub fn decode(bytes: &[u8], sniffed: &Sniffed, min_long_side: u32) -> Result<Pixels, MediaError> {
    let (mut pixels, icc) = match sniffed.format {
        ImageFormat::Jpeg => (
            decode_jpeg(bytes, min_long_side)?,
            color::jpeg_icc_profile(bytes),
        ),
        other => decode_other(bytes, other, sniffed)?,
    };
    if let Some(icc) = icc {
        color::to_srgb(&mut pixels, &icc);
    }
    Ok(pixels)
}

fn invalid(e: impl std::fmt::Display) -> MediaError {
    MediaError::Invalid(e.to_string())
}

/// The smallest n/8 scale that keeps the longest side at least `min_long_side`.
fn scale_for(long_side: usize, min_long_side: u32) -> ScalingFactor {
    (1..=8)
        .map(|num| ScalingFactor::new(num, 8))
        .find(|s| s.scale(long_side) >= min_long_side as usize)
        .unwrap_or(ScalingFactor::ONE)
}

fn decode_jpeg(bytes: &[u8], min_long_side: u32) -> Result<Pixels, MediaError> {
    let mut decompressor =
        Decompressor::new().map_err(|e| MediaError::Processing(e.to_string()))?;
    let header = decompressor.read_header(bytes).map_err(invalid)?;
    let scale = scale_for(header.width.max(header.height), min_long_side);
    decompressor.set_scaling_factor(scale).map_err(invalid)?;
    let scaled = header.scaled(scale);
    let (width, height) = (scaled.width, scaled.height);
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk {
        PixelFormat::CMYK
    } else {
        PixelFormat::RGB
    };
    let mut data = vec![0u8; width * height * format.size()];
    let image = turbojpeg::Image {
        pixels: data.as_mut_slice(),
        width,
        pitch: width * format.size(),
        height,
        format,
    };
    decompressor.decompress(bytes, image).map_err(invalid)?;
    if cmyk {
        data = cmyk_to_rgb(&data, has_adobe_marker(bytes));
    }
    Ok(Pixels {
        width: width as u32,
        height: height as u32,
        channels: 3,
        data,
    })
}

/// Converts CMYK to RGB. Adobe applications (which mark their files with an APP14
/// "Adobe" segment) store CMYK inverted: 255 means no ink.
fn cmyk_to_rgb(cmyk: &[u8], inverted: bool) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let ink = |v: u8| {
                if inverted {
                    255 - u32::from(v)
                } else {
                    u32::from(v)
                }
            };
            let k = ink(p[3]);
            let channel = |c: u8| (((255 - ink(c)) * (255 - k) + 127) / 255) as u8;
            [channel(p[0]), channel(p[1]), channel(p[2])]
        })
        .collect()
}

/// Whether the JPEG has an APP14 "Adobe" segment before its image data.
fn has_adobe_marker(bytes: &[u8]) -> bool {
    jpeg_segments(bytes).any(|(marker, payload)| marker == 0xEE && payload.starts_with(b"Adobe"))
}

/// Decodes PNG, WebP, GIF, HEIC and AVIF, returning the pixels and any embedded ICC profile.
fn decode_other(
    bytes: &[u8],
    format: ImageFormat,
    sniffed: &Sniffed,
) -> Result<(Pixels, Option<Vec<u8>>), MediaError> {
    use image::ImageDecoder;
    let format = match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Jpeg => return Ok((decode_jpeg(bytes, u32::MAX)?, None)),
        heif @ (ImageFormat::Heic | ImageFormat::Avif) => {
            return super::heif::decode(bytes, heif.as_str());
        }
    };
    let reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(sniffed.width);
    limits.max_image_height = Some(sniffed.height);
    // Room for the decoded image at up to 16 bits per channel with alpha, plus the 8-bit copy.
    limits.max_alloc = Some(u64::from(sniffed.width) * u64::from(sniffed.height) * 12 + (1 << 20));
    let mut decoder = reader.into_decoder().map_err(invalid)?;
    decoder.set_limits(limits).map_err(invalid)?;
    let icc = decoder.icc_profile().ok().flatten();
    let decoded = image::DynamicImage::from_decoder(decoder).map_err(invalid)?;
    let (width, height) = (decoded.width(), decoded.height());
    let pixels = if decoded.color().has_alpha() {
        let data = decoded.into_rgba8().into_raw();
        Pixels {
            width,
            height,
            channels: 4,
            data,
        }
    } else {
        let data = decoded.into_rgb8().into_raw();
        Pixels {
            width,
            height,
            channels: 3,
            data,
        }
    };
    Ok((pixels, icc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_smallest_scale_that_is_still_large_enough() {
        assert_eq!(scale_for(6000, 720), ScalingFactor::new(1, 8));
        assert_eq!(scale_for(6000, 751), ScalingFactor::new(2, 8));
        assert_eq!(scale_for(1800, 720), ScalingFactor::new(4, 8));
        assert_eq!(scale_for(1800, 2048), ScalingFactor::ONE);
    }

    #[test]
    fn cmyk_inversion_follows_the_adobe_convention() {
        // Adobe-inverted: all 255 means no ink at all: white.
        assert_eq!(
            cmyk_to_rgb(&[255, 255, 255, 255], true),
            vec![255, 255, 255]
        );
        assert_eq!(cmyk_to_rgb(&[0, 0, 0, 0], false), vec![255, 255, 255]);
        // Full cyan ink only.
        assert_eq!(cmyk_to_rgb(&[0, 255, 255, 255], true), vec![0, 255, 255]);
    }
}
