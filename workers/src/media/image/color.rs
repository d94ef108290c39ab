//! Colour management: images carrying an ICC profile (Adobe RGB, Display P3
//! from phones, …) are converted to sRGB with lcms2, the space browsers
//! assume for untagged images; the profile itself is then dropped.

use super::{Pixels, jpeg_segments::jpeg_segments};
use lcms2::{Intent, PixelFormat, Profile, Transform};

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

/// Whether a profile names itself sRGB (most camera and editor output): no conversion needed.
fn is_srgb(profile: &Profile) -> bool {
    profile
        .info(lcms2::InfoType::Description, lcms2::Locale::none())
        .is_some_and(|d| d.contains("sRGB"))
}
