//! EXIF orientation: read the tag, and turn pixels upright for all eight values.

use super::Pixels;

/// The EXIF orientation (1–8) of an image file; 1 when absent or unreadable.
pub fn exif_orientation(bytes: &[u8]) -> u16 {
    let Ok(exif) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u16::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
        .unwrap_or(1)
}

/// Returns `pixels` transformed so that an image stored with `orientation` displays upright.
pub fn apply(pixels: Pixels, orientation: u16) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return pixels;
    }
    let (w, h) = (pixels.width as usize, pixels.height as usize);
    let n = pixels.channels as usize;
    let swaps = orientation >= 5;
    let (ow, oh) = if swaps { (h, w) } else { (w, h) };
    let mut out = vec![0u8; pixels.data.len()];
    for y in 0..oh {
        for x in 0..ow {
            // Where the pixel shown at (x, y) is stored.
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let src = (sy * w + sx) * n;
            let dst = (y * ow + x) * n;
            out[dst..dst + n].copy_from_slice(&pixels.data[src..src + n]);
        }
    }
    Pixels {
        width: ow as u32,
        height: oh as u32,
        channels: pixels.channels,
        data: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x3 single-channel-like image (channels 3, value = index) to follow pixels around.
    fn grid() -> Pixels {
        let data = (0..6u8).flat_map(|v| [v, v, v]).collect();
        Pixels {
            width: 2,
            height: 3,
            channels: 3,
            data,
        }
    }

    fn values(p: &Pixels) -> Vec<u8> {
        p.data.chunks_exact(3).map(|c| c[0]).collect()
    }

    #[test]
    fn every_orientation_moves_pixels_as_exif_defines() {
        // Stored:   0 1
        //           2 3
        //           4 5
        let cases: [(u16, (u32, u32), [u8; 6]); 8] = [
            (1, (2, 3), [0, 1, 2, 3, 4, 5]),
            (2, (2, 3), [1, 0, 3, 2, 5, 4]),
            (3, (2, 3), [5, 4, 3, 2, 1, 0]),
            (4, (2, 3), [4, 5, 2, 3, 0, 1]),
            (5, (3, 2), [0, 2, 4, 1, 3, 5]),
            (6, (3, 2), [4, 2, 0, 5, 3, 1]),
            (7, (3, 2), [5, 3, 1, 4, 2, 0]),
            (8, (3, 2), [1, 3, 5, 0, 2, 4]),
        ];
        for (orientation, dims, expected) in cases {
            let out = apply(grid(), orientation);
            assert_eq!((out.width, out.height), dims, "orientation {orientation}");
            assert_eq!(values(&out), expected, "orientation {orientation}");
        }
    }
}
