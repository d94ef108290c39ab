//! Colour management: images carrying an ICC profile (Adobe RGB, Display P3
//! from phones, …) are converted to sRGB with lcms2, the space browsers
//! assume for untagged images; the profile itself is then dropped.

use super::{Pixels, jpeg_segments::jpeg_segments};
use lcms2::{CIExyY, CIExyYTRIPLE, Intent, PixelFormat, Profile, ToneCurve, Transform};

/// The ICC profile in a JPEG's APP2 `ICC_PROFILE` segments, reassembled in sequence order.
pub fn jpeg_icc_profile(bytes: &[u8]) -> Option<Vec<u8>> {
    const TAG: &[u8] = b"ICC_PROFILE\0";
    let mut chunks: Vec<(u8, &[u8])> = jpeg_segments(bytes)
        .filter(|(marker, segment)| {
            *marker == 0xE2 && segment.starts_with(TAG) && segment.len() > TAG.len() + 2
        })
        .map(|(_, segment)| (segment[TAG.len()], &segment[TAG.len() + 2..]))
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(seq, _)| *seq);
    Some(
        chunks
            .into_iter()
            .flat_map(|(_, data)| data.iter().copied())
            .collect(),
    )
}

/// Converts `pixels` from the colour space `icc` describes to sRGB, in place.
/// A profile that cannot be read, is already sRGB, or is not RGB leaves the pixels as they are.
pub fn to_srgb(pixels: &mut Pixels, icc: &[u8]) {
    let Ok(source) = Profile::new_icc(icc) else {
        return;
    };
    if source.color_space() != lcms2::ColorSpaceSignature::RgbData || is_srgb(&source) {
        return;
    }
    let format = if pixels.channels == 4 {
        PixelFormat::RGBA_8
    } else {
        PixelFormat::RGB_8
    };
    let srgb = Profile::new_srgb();
    if let Ok(transform) =
        Transform::<u8, u8>::new(&source, format, &srgb, format, Intent::Perceptual)
    {
        transform.transform_in_place(&mut pixels.data);
    }
}

/// The tone curve of an RGB colour space named by code rather than by profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneCurveKind {
    /// IEC 61966-2-1: the sRGB and Display P3 curve.
    Srgb,
    /// ITU-R BT.709 (also BT.601 and SDR BT.2020): video cameras' curve.
    Bt709,
}

/// An ICC profile for RGB with these red, green and blue primaries and
/// white point (CIE xy) and tone curve, so that [`to_srgb`] can convert
/// images whose colour space is named by code (an nclx tag) as it does
/// images carrying a profile. None when lcms2 cannot build it.
pub fn rgb_profile(
    primaries: [(f64, f64); 3],
    white: (f64, f64),
    curve: ToneCurveKind,
) -> Option<Vec<u8>> {
    // lcms2's parametric type 4: Y = (aX + b)^g for X >= d, else cX; [g, a, b, c, d].
    let params = match curve {
        ToneCurveKind::Srgb => [2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045],
        ToneCurveKind::Bt709 => [1.0 / 0.45, 1.0 / 1.099, 0.099 / 1.099, 1.0 / 4.5, 0.081],
    };
    let tone = ToneCurve::new_parametric(4, &params).ok()?;
    let xy = |(x, y): (f64, f64)| CIExyY { x, y, Y: 1.0 };
    let triple = CIExyYTRIPLE {
        Red: xy(primaries[0]),
        Green: xy(primaries[1]),
        Blue: xy(primaries[2]),
    };
    Profile::new_rgb(&xy(white), &triple, &[&tone, &tone, &tone])
        .ok()?
        .icc()
        .ok()
}

/// Whether a profile names itself sRGB (most camera and editor output): no conversion needed.
fn is_srgb(profile: &Profile) -> bool {
    profile
        .info(lcms2::InfoType::Description, lcms2::Locale::none())
        .is_some_and(|d| d.contains("sRGB"))
}
