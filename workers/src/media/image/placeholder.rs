//! Placeholders a client shows while variants load: BlurHash and ThumbHash,
//! computed from a thumbnail of at most 100 px.

use super::{Pixels, resize};
use crate::media::MediaError;
use base64::Engine;

/// BlurHash and ThumbHash (base64) of an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Placeholders {
    /// BlurHash with 4x3 components.
    pub blurhash: String,
    /// ThumbHash, standard base64.
    pub thumbhash: String,
}

/// Computes both placeholders of `pixels` (upright, any size).
pub fn placeholders(
    resizer: &mut fast_image_resize::Resizer,
    pixels: &Pixels,
) -> Result<Placeholders, MediaError> {
    let (w, h) = resize::fit(pixels.width, pixels.height, 100);
    let thumb = resize::resize(resizer, pixels, w, h)?.to_rgba();
    let blurhash = blurhash::encode(4, 3, w, h, &thumb.data)
        .map_err(|e| MediaError::Processing(format!("blurhash: {e}")))?;
    let thumbhash = thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &thumb.data);
    Ok(Placeholders {
        blurhash,
        thumbhash: base64::engine::general_purpose::STANDARD.encode(thumbhash),
    })
}
