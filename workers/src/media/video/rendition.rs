//! The sizes of the MP4 renditions: `720` fits 1280x720 (720x1280 for a
//! portrait video), `1080` fits 1920x1080; aspect kept, even dimensions,
//! never upscaled.

/// One rendition to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Name of the variant (`"720"`), also the file name of its output.
    pub name: String,
    /// Output width (even).
    pub width: u32,
    /// Output height (even).
    pub height: u32,
}

/// The size of a `lines`p rendition (`720`: short side at most 720, long side at most 1280) of
/// an upright `width` x `height` picture: aspect kept, both sides even, never larger than the source.
pub fn fit(width: u32, height: u32, lines: u32) -> (u32, u32) {
    let (short, long) = (width.min(height).max(1), width.max(height).max(1));
    let long_cap = lines * 16 / 9;
    let scale = (f64::from(lines) / f64::from(short))
        .min(f64::from(long_cap) / f64::from(long))
        .min(1.0);
    let even = |v: u32| -> u32 {
        let scaled = (f64::from(v) * scale / 2.0).round() as u32 * 2;
        scaled.max(2)
    };
    let (w, h) = (even(width), even(height));
    // Rounding up may step over the source's own (odd) size; step back down.
    (
        w.min(width.max(2) & !1).max(2),
        h.min(height.max(2) & !1).max(2),
    )
}

/// The renditions of an upright `width` x `height` video for each of `lines` (ascending),
/// dropping any that would repeat the size of a smaller one.
pub fn renditions(width: u32, height: u32, lines: &[u32]) -> Vec<Rendition> {
    let mut out: Vec<Rendition> = Vec::new();
    for &l in lines {
        let (w, h) = fit(width, height, l);
        if out.iter().any(|r| (r.width, r.height) == (w, h)) {
            continue;
        }
        out.push(Rendition {
            name: l.to_string(),
            width: w,
            height: h,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_720p_keeping_aspect_with_even_sides() {
        assert_eq!(fit(1920, 1080, 720), (1280, 720));
        assert_eq!(fit(1080, 1920, 720), (720, 1280));
        assert_eq!(fit(3840, 2160, 720), (1280, 720));
        assert_eq!(fit(1080, 1080, 720), (720, 720));
        // 4:3 is limited by its short side; a wide 21:9 by its long side.
        assert_eq!(fit(1440, 1080, 720), (960, 720));
        assert_eq!(fit(2560, 1080, 720), (1280, 540));
        // Odd sizes become even; small videos are not upscaled.
        assert_eq!(fit(1918, 1078, 720), (1280, 720));
        assert_eq!(fit(640, 360, 720), (640, 360));
        assert_eq!(fit(641, 361, 720), (640, 360));
        assert_eq!(fit(1, 1, 720), (2, 2));
    }

    #[test]
    fn drops_a_1080p_rendition_that_would_not_be_larger() {
        let names = |w, h| {
            renditions(w, h, &[720, 1080])
                .into_iter()
                .map(|r| format!("{}:{}x{}", r.name, r.width, r.height))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(1920, 1080), ["720:1280x720", "1080:1920x1080"]);
        assert_eq!(names(1280, 720), ["720:1280x720"]);
        assert_eq!(names(1080, 1920), ["720:720x1280", "1080:1080x1920"]);
    }
}
