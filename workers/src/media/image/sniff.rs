//! What a file really is, from its first bytes, and how big it claims to be,
//! from its header: before any pixel is decoded.

use crate::media::MediaError;

/// An image format Fleet recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// JPEG (JFIF/EXIF).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (lossy, lossless, with alpha).
    Webp,
    /// GIF (first frame only).
    Gif,
    /// HEIC (HEIF with HEVC, as iPhones save photos).
    Heic,
    /// AVIF (HEIF with AV1).
    Avif,
}

impl ImageFormat {
    /// The format's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Heic => "heic",
            ImageFormat::Avif => "avif",
        }
    }

    /// Whether the format is in the HEIF family (decoded by libheif, oriented by its container).
    pub fn is_heif(self) -> bool {
        matches!(self, ImageFormat::Heic | ImageFormat::Avif)
    }
}

/// The format and header dimensions of an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// Real format, from magic bytes.
    pub format: ImageFormat,
    /// Width in pixels as stored (before EXIF orientation).
    pub width: u32,
    /// Height in pixels as stored.
    pub height: u32,
}

/// Identifies `bytes` by magic number, never by name or declared type.
pub fn format_of(bytes: &[u8]) -> Result<ImageFormat, MediaError> {
    match bytes {
        [] => Err(MediaError::Invalid("the file is empty".to_owned())),
        [0xFF, 0xD8, 0xFF, ..] => Ok(ImageFormat::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(ImageFormat::Png),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Ok(ImageFormat::Gif),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Ok(ImageFormat::Webp),
        [_, _, _, _, b'f', b't', b'y', b'p', _, _, _, _, ..] => heif_brand(bytes),
        _ => Err(MediaError::Unsupported(
            "not a JPEG, PNG, WebP, GIF, HEIC or AVIF image (checked by content, not by name)"
                .to_owned(),
        )),
    }
}

/// HEIC or AVIF from an ISO media file's `ftyp` box: its major brand, or for the generic HEIF
/// brands (`mif1`, `msf1`) its compatible brands; other ISO media (MP4, MOV) is refused.
fn heif_brand(bytes: &[u8]) -> Result<ImageFormat, MediaError> {
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let ftyp = &bytes[..size.clamp(12, 256).min(bytes.len())];
    let major = &ftyp[8..12];
    // Compatible brands follow the major brand and its 4-byte minor version.
    let compatible: Vec<&[u8]> = ftyp.get(16..).unwrap_or_default().chunks_exact(4).collect();
    let is = |brands: &[&[u8]]| brands.contains(&major);
    let lists = |brand: &[u8]| compatible.contains(&brand);
    if is(&[b"avif", b"avis"]) {
        return Ok(ImageFormat::Avif);
    }
    if is(&[
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
    ]) {
        return Ok(ImageFormat::Heic);
    }
    if is(&[b"mif1", b"msf1"]) {
        if lists(b"avif") || lists(b"avis") {
            return Ok(ImageFormat::Avif);
        }
        return Ok(ImageFormat::Heic);
    }
    Err(MediaError::Unsupported(format!(
        "this ISO media file (brand `{}`) is not an image; upload it as a listing_video if it is a video",
        String::from_utf8_lossy(major)
    )))
}

/// Sniffs the format and reads the header dimensions, refusing images above `max_pixels`.
pub fn sniff(bytes: &[u8], max_pixels: u64) -> Result<Sniffed, MediaError> {
    let format = format_of(bytes)?;
    let (width, height) = if format.is_heif() {
        let (w, h) = super::heif::header(bytes, format.as_str())?;
        (u64::from(w), u64::from(h))
    } else {
        let size = imagesize::blob_size(bytes).map_err(|e| {
            MediaError::Invalid(format!("cannot read the {} header: {e}", format.as_str()))
        })?;
        (size.width as u64, size.height as u64)
    };
    if width == 0 || height == 0 {
        return Err(MediaError::Invalid(format!(
            "the header says {width}x{height}"
        )));
    }
    if width * height > max_pixels {
        return Err(MediaError::TooLarge(format!(
            "image is {width}x{height} ({} megapixels); the limit is {} megapixels",
            width * height / 1_000_000,
            max_pixels / 1_000_000
        )));
    }
    let dimension = |v: u64| {
        u32::try_from(v).map_err(|_| MediaError::TooLarge(format!("dimension {v} is too large")))
    };
    Ok(Sniffed {
        format,
        width: dimension(width)?,
        height: dimension(height)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats_by_content() {
        assert_eq!(
            format_of(b"\xFF\xD8\xFF\xE0rest").unwrap(),
            ImageFormat::Jpeg
        );
        assert_eq!(
            format_of(b"\x89PNG\r\n\x1a\nrest").unwrap(),
            ImageFormat::Png
        );
        assert_eq!(format_of(b"GIF89a...").unwrap(), ImageFormat::Gif);
        assert_eq!(
            format_of(b"RIFF\0\0\0\0WEBPVP8 ").unwrap(),
            ImageFormat::Webp
        );
        assert!(matches!(format_of(b""), Err(MediaError::Invalid(_))));
        assert!(matches!(
            format_of(b"hello, I am a .jpg"),
            Err(MediaError::Unsupported(_))
        ));
        assert_eq!(
            format_of(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap(),
            ImageFormat::Heic
        );
        assert_eq!(
            format_of(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf").unwrap(),
            ImageFormat::Avif
        );
        assert_eq!(
            format_of(b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif").unwrap(),
            ImageFormat::Avif
        );
        let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2";
        let err = format_of(mp4).unwrap_err().to_string();
        assert!(err.contains("listing_video"), "{err}");
    }

    #[test]
    fn refuses_a_decompression_bomb_from_its_header() {
        // A valid PNG signature and IHDR declaring 60000x60000, with no pixel data.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&60000u32.to_be_bytes());
        png.extend_from_slice(&60000u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        let err = sniff(&png, 50_000_000).unwrap_err();
        assert!(matches!(err, MediaError::TooLarge(_)), "{err}");
        assert!(err.to_string().contains("60000x60000"), "{err}");
    }
}
