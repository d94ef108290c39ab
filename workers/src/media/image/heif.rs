//! HEIC and AVIF (the HEIF family) through Debian's libheif: dimensions from
//! the container's header, then decoding to upright RGB(A). libheif applies
//! the container's rotation and mirroring (`irot`, `imir`) itself, so the EXIF
//! orientation of these files is ignored.
//!
//! Colour: a file carries an ICC profile or names its colour space by code
//! (an `nclx` tag, as Android phones and AVIF encoders write). A code other
//! than sRGB's primaries (Display P3, BT.2020) becomes the equivalent ICC
//! profile, so both reach sRGB through the same conversion.

use super::{
    Pixels,
    color::{ToneCurveKind, rgb_profile},
};
use crate::media::MediaError;
use libheif_rs::{
    ColorPrimaries, ColorSpace, HeifContext, ImageHandle, LibHeif, RgbChroma,
    TransferCharacteristics,
};

fn invalid(what: &str, e: impl std::fmt::Display) -> MediaError {
    MediaError::Invalid(format!("cannot read the {what} image: {e}"))
}

/// Width and height of the primary image as shown (after rotation), read from the container
/// without decoding any pixel.
pub fn header(bytes: &[u8], what: &str) -> Result<(u32, u32), MediaError> {
    let context = HeifContext::read_from_bytes(bytes).map_err(|e| invalid(what, e))?;
    let handle = context
        .primary_image_handle()
        .map_err(|e| invalid(what, e))?;
    Ok((handle.width(), handle.height()))
}

/// Decodes the primary image to 8-bit RGB (RGBA with straight alpha when it has alpha, even if
/// the file stores it premultiplied), upright; also returns its ICC profile, if it carries one
/// or an nclx tag naming a wide gamut.
pub fn decode(bytes: &[u8], what: &str) -> Result<(Pixels, Option<Vec<u8>>), MediaError> {
    let lib = LibHeif::new();
    let context = HeifContext::read_from_bytes(bytes).map_err(|e| invalid(what, e))?;
    let handle = context
        .primary_image_handle()
        .map_err(|e| invalid(what, e))?;
    let alpha = handle.has_alpha_channel();
    let (chroma, channels) = if alpha {
        (RgbChroma::Rgba, 4u8)
    } else {
        (RgbChroma::Rgb, 3u8)
    };
    let image = lib
        .decode(&handle, ColorSpace::Rgb(chroma), None)
        .map_err(|e| invalid(what, e))?;
    let planes = image.planes();
    let plane = planes
        .interleaved
        .ok_or_else(|| MediaError::Processing("libheif returned no RGB plane".to_owned()))?;
    let (width, height) = (plane.width, plane.height);
    let row = width as usize * usize::from(channels);
    let mut data = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let line = plane
            .data
            .get(y * plane.stride..y * plane.stride + row)
            .ok_or_else(|| MediaError::Processing("libheif returned a short plane".to_owned()))?;
        data.extend_from_slice(line);
    }
    // A `prem` property: libheif hands the colour out still multiplied by alpha, while Pixels
    // (and so the flattening onto white and the WebP encoder) expect straight alpha.
    if alpha && image.is_premultiplied_alpha() {
        unpremultiply(&mut data);
    }
    let icc = handle
        .color_profile_raw()
        .map(|p| p.data)
        .or_else(|| nclx_profile(&handle));
    Ok((
        Pixels {
            width,
            height,
            channels,
            data,
        },
        icc,
    ))
}

/// An ICC profile equivalent to the image's nclx tag when the tag names
/// primaries other than sRGB's with a standard-range tone curve. None for
/// sRGB primaries or unspecified ones (read as sRGB), and for HDR curves (PQ,
/// HLG), which would need tone mapping: those pixels are kept as stored.
fn nclx_profile(handle: &ImageHandle) -> Option<Vec<u8>> {
    let nclx = handle.color_profile_nclx()?;
    if matches!(
        nclx.color_primaries(),
        ColorPrimaries::ITU_R_BT_709_5 | ColorPrimaries::Unspecified | ColorPrimaries::Unknown
    ) {
        return None;
    }
    let curve = match nclx.transfer_characteristics() {
        TransferCharacteristics::IEC_61966_2_1 | TransferCharacteristics::Unspecified => {
            ToneCurveKind::Srgb
        }
        TransferCharacteristics::ITU_R_BT_709_5
        | TransferCharacteristics::ITU_R_BT_601_6
        | TransferCharacteristics::ITU_R_BT_2020_2_10bit
        | TransferCharacteristics::ITU_R_BT_2020_2_12bit => ToneCurveKind::Bt709,
        _ => return None,
    };
    // libheif fills in the CIE xy of the primaries the code names.
    let xy = |x: f32, y: f32| (f64::from(x), f64::from(y));
    rgb_profile(
        [
            xy(nclx.color_primary_red_x(), nclx.color_primary_red_y()),
            xy(nclx.color_primary_green_x(), nclx.color_primary_green_y()),
            xy(nclx.color_primary_blue_x(), nclx.color_primary_blue_y()),
        ],
        xy(nclx.color_primary_white_x(), nclx.color_primary_white_y()),
        curve,
    )
}

/// Divides the colour of RGBA pixels by their alpha (fully transparent ones stay black).
fn unpremultiply(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        if a == 0 || a == 255 {
            continue;
        }
        for c in &mut p[..3] {
            *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpremultiplying_restores_straight_colour() {
        let mut px = vec![0, 0, 128, 128, 10, 20, 30, 255, 0, 0, 0, 0, 200, 0, 0, 100];
        unpremultiply(&mut px);
        assert_eq!(
            px,
            vec![0, 0, 255, 128, 10, 20, 30, 255, 0, 0, 0, 0, 255, 0, 0, 100]
        );
    }
}
