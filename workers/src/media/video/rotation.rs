//! How a video is meant to be shown: the clockwise rotation its player would
//! apply, from the display matrix side data or the older `rotate` tag.

/// The clockwise rotation, in degrees (0, 90, 180 or 270), that a 3x3 display matrix
/// (16.16 fixed point, as MP4 and FFmpeg store it) applies to the decoded picture.
///
/// Angles are snapped to the nearest quarter turn, as phones only write those.
pub fn from_display_matrix(matrix: &[i32; 9]) -> u32 {
    let scale = |a: i32, b: i32| f64::from(a).hypot(f64::from(b));
    let (s0, s1) = (scale(matrix[0], matrix[3]), scale(matrix[1], matrix[4]));
    if s0 == 0.0 || s1 == 0.0 {
        return 0;
    }
    // FFmpeg's av_display_rotation_get() is the counter-clockwise angle; players rotate by its opposite.
    let degrees = (f64::from(matrix[1]) / s1)
        .atan2(f64::from(matrix[0]) / s0)
        .to_degrees();
    snap(degrees)
}

/// The clockwise rotation a `rotate` metadata tag (`"90"`, `"-90"`, `"180"`) asks for.
pub fn from_tag(tag: &str) -> Option<u32> {
    tag.trim().parse::<f64>().ok().map(snap)
}

/// Reads a display matrix from its 36 bytes of side data (native-endian `i32`s).
pub fn parse_display_matrix(bytes: &[u8]) -> Option<[i32; 9]> {
    if bytes.len() < 36 {
        return None;
    }
    let mut matrix = [0i32; 9];
    for (value, chunk) in matrix.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(matrix)
}

fn snap(degrees: f64) -> u32 {
    let quarter = (degrees / 90.0).round().rem_euclid(4.0);
    quarter as u32 * 90
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: i32 = 1 << 16;

    #[test]
    fn reads_the_quarter_turns_phones_write() {
        assert_eq!(
            from_display_matrix(&[ONE, 0, 0, 0, ONE, 0, 0, 0, 1 << 30]),
            0
        );
        assert_eq!(
            from_display_matrix(&[0, ONE, 0, -ONE, 0, 0, 0, 0, 1 << 30]),
            90
        );
        assert_eq!(
            from_display_matrix(&[-ONE, 0, 0, 0, -ONE, 0, 0, 0, 1 << 30]),
            180
        );
        // What FFmpeg 5.1 writes for `-metadata:s:v:0 rotate=90` (ffprobe says `rotation: 90`,
        // counter-clockwise): players, and the ffmpeg command, turn it a quarter to the left.
        assert_eq!(
            from_display_matrix(&[0, -ONE, 0, ONE, 0, 0, 0, 0, 1 << 30]),
            270
        );
        assert_eq!(from_display_matrix(&[0; 9]), 0);
    }

    #[test]
    fn reads_rotate_tags() {
        assert_eq!(from_tag("90"), Some(90));
        assert_eq!(from_tag("-90"), Some(270));
        assert_eq!(from_tag("180"), Some(180));
        assert_eq!(from_tag("360"), Some(0));
        assert_eq!(from_tag("sideways"), None);
    }

    #[test]
    fn parses_side_data_bytes() {
        let matrix = [0, ONE, 0, -ONE, 0, 0, 0, 0, 1 << 30];
        let bytes: Vec<u8> = matrix.iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(parse_display_matrix(&bytes), Some(matrix));
        assert_eq!(parse_display_matrix(&bytes[..20]), None);
    }
}
