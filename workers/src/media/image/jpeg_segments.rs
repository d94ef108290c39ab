//! Walking a JPEG's header segments (APPn, DQT, SOF, …) up to the start of scan.

/// The `(marker, payload)` of each header segment of a JPEG, in file order; stops at the
/// start of scan or at the first malformed or truncated segment.
pub fn jpeg_segments(bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut i = 2; // after SOI
    std::iter::from_fn(move || {
        if i + 4 > bytes.len() || bytes[i] != 0xFF || bytes[i + 1] == 0xDA {
            return None;
        }
        let marker = bytes[i + 1];
        let len = usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
        let payload = bytes.get(i + 4..(i + 2 + len).max(i + 4))?;
        i += 2 + len.max(2);
        Some((marker, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_segments_until_the_scan() {
        let jpeg =
            b"\xFF\xD8\xFF\xE0\x00\x04ab\xFF\xEE\x00\x07Adobe\xFF\xDA\x00\x02\xFF\xE1\x00\x02";
        let segments: Vec<(u8, &[u8])> = jpeg_segments(jpeg).collect();
        assert_eq!(segments, vec![(0xE0, &b"ab"[..]), (0xEE, &b"Adobe"[..])]);
        let truncated = b"\xFF\xD8\xFF\xE0\x00\x10ab";
        assert_eq!(jpeg_segments(truncated).count(), 0);
    }
}
