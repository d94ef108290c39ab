//! Resizing with fast_image_resize: Lanczos3, SIMD, alpha premultiplied
//! during the filter so edges do not darken.

use super::Pixels;
use crate::media::MediaError;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};

/// The size with the longest side at most `max_long_side`, aspect kept; never larger than the source.
pub fn fit(width: u32, height: u32, max_long_side: u32) -> (u32, u32) {
    let long = width.max(height);
    if long <= max_long_side {
        return (width, height);
    }
    let scale = f64::from(max_long_side) / f64::from(long);
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).max(1);
    if width >= height {
        (max_long_side, side(height))
    } else {
        (side(width), max_long_side)
    }
}

/// Resamples `pixels` to exactly `width` x `height` (a copy when the size is unchanged).
pub fn resize(
    resizer: &mut Resizer,
    pixels: &Pixels,
    width: u32,
    height: u32,
) -> Result<Pixels, MediaError> {
    if (width, height) == (pixels.width, pixels.height) {
        return Ok(pixels.clone());
    }
    let pixel_type = if pixels.channels == 4 {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let failed = |e: &dyn std::fmt::Display| MediaError::Processing(format!("resize: {e}"));
    let src = fast_image_resize::images::ImageRef::new(
        pixels.width,
        pixels.height,
        &pixels.data,
        pixel_type,
    )
    .map_err(|e| failed(&e))?;
    let mut dst = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    resizer
        .resize(&src, &mut dst, &options)
        .map_err(|e| failed(&e))?;
    Ok(Pixels {
        width,
        height,
        channels: pixels.channels,
        data: dst.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_longest_side_and_never_upscales() {
        assert_eq!(fit(6000, 4000, 720), (720, 480));
        assert_eq!(fit(1200, 1800, 720), (480, 720));
        assert_eq!(fit(300, 200, 720), (300, 200));
        assert_eq!(fit(10000, 1, 100), (100, 1));
    }

    #[test]
    fn resizes_a_flat_colour_to_the_same_colour() {
        let pixels = Pixels {
            width: 40,
            height: 20,
            channels: 3,
            data: [10u8, 200, 30].repeat(800),
        };
        let out = resize(&mut Resizer::new(), &pixels, 10, 5).unwrap();
        assert_eq!((out.width, out.height, out.data.len()), (10, 5, 150));
        assert!(out.data.chunks_exact(3).all(|p| p == [10, 200, 30]));
    }
}
