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
}

impl ImageFormat {
    /// The format's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
        }
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
        [_, _, _, _, b'f', b't', b'y', b'p', brand @ ..] if brand.len() >= 4 => {
            let brand = String::from_utf8_lossy(&brand[..4]).into_owned();
            let what = match brand.as_str() {
                "heic" | "heix" | "hevc" | "mif1" | "msf1" => "HEIC/HEIF images",
                "avif" | "avis" => "AVIF images",
                _ => "this ISO media file (upload it as a listing_video if it is a video)",
            };
            Err(MediaError::Unsupported(format!(
                "{what} are not accepted yet (brand `{brand}`); upload JPEG, PNG, WebP or GIF"
            )))
        }
        _ => Err(MediaError::Unsupported(
            "not a JPEG, PNG, WebP or GIF image (checked by content, not by name)".to_owned(),
        )),
    }
}

/// Sniffs the format and reads the header dimensions, refusing images above `max_pixels`.
pub fn sniff(bytes: &[u8], max_pixels: u64) -> Result<Sniffed, MediaError> {
    let format = format_of(bytes)?;
    let size = imagesize::blob_size(bytes).map_err(|e| {
        MediaError::Invalid(format!("cannot read the {} header: {e}", format.as_str()))
    })?;
    let (width, height) = (size.width as u64, size.height as u64);
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
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0";
        let err = format_of(heic).unwrap_err().to_string();
        assert!(err.contains("HEIC"), "{err}");
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
