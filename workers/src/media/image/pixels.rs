//! An 8-bit RGB or RGBA pixel buffer, the currency between decode, orient,
//! resize and encode.

/// Interleaved 8-bit pixels, 3 (RGB) or 4 (RGBA, straight alpha) channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 3 for RGB, 4 for RGBA.
    pub channels: u8,
    /// `width * height * channels` bytes, row by row.
    pub data: Vec<u8>,
}

impl Pixels {
    /// Whether any pixel is not fully opaque (always false for RGB).
    pub fn has_transparency(&self) -> bool {
        self.channels == 4 && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    /// The pixels as RGB, with any alpha flattened onto white.
    pub fn to_rgb_on_white(&self) -> Pixels {
        if self.channels == 3 {
            return self.clone();
        }
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let blend = move |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
                [blend(p[0]), blend(p[1]), blend(p[2])]
            })
            .collect();
        Pixels {
            width: self.width,
            height: self.height,
            channels: 3,
            data,
        }
    }

    /// The pixels as RGBA (opaque alpha added to RGB).
    pub fn to_rgba(&self) -> Pixels {
        if self.channels == 4 {
            return self.clone();
        }
        let data = self
            .data
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        Pixels {
            width: self.width,
            height: self.height,
            channels: 4,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_blends_onto_white() {
        let rgba = Pixels {
            width: 3,
            height: 1,
            channels: 4,
            data: vec![0, 0, 0, 255, 0, 0, 0, 0, 200, 100, 0, 128],
        };
        let rgb = rgba.to_rgb_on_white();
        assert_eq!(rgb.data, vec![0, 0, 0, 255, 255, 255, 227, 177, 127]);
        assert!(rgba.has_transparency());
        assert!(!rgb.to_rgba().has_transparency());
    }
}
