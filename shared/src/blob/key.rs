//! Object keys: validated once, so no store can be walked out of its root.

use super::BlobError;
use std::fmt;

/// Longest accepted key, in bytes (S3's own limit).
const MAX_KEY_LEN: usize = 1024;

/// A validated object key such as `media/01J…/w720.webp`: `/`-separated
/// segments of ASCII letters, digits, `-`, `_` and `.`, none empty and none
/// starting with `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Checks `key` and wraps it.
    pub fn new(key: impl Into<String>) -> Result<BlobKey, BlobError> {
        let key = key.into();
        let invalid = |reason: &str| BlobError::InvalidKey {
            key: key.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        if key.is_empty() {
            return Err(invalid("empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(invalid("longer than 1024 bytes"));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return Err(invalid(
                    "empty path segment (leading, trailing or double `/`)",
                ));
            }
            if segment.starts_with('.') {
                return Err(invalid("a segment starts with `.`"));
            }
            if !segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(invalid(
                    "only letters, digits, `-`, `_`, `.` and `/` are allowed",
                ));
            }
        }
        Ok(BlobKey(key))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This key with `/segment` appended (`media/1` + `w720.webp`).
    pub fn join(&self, segment: &str) -> Result<BlobKey, BlobError> {
        BlobKey::new(format!("{}/{segment}", self.0))
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for key in [
            "a",
            "media/01JABC/source",
            "export/s-1/run_2.csv",
            "x/y.z/w-1",
        ] {
            assert_eq!(BlobKey::new(key).unwrap().as_str(), key);
        }
    }

    #[test]
    fn refuses_keys_that_could_escape_or_confuse() {
        for key in [
            "",
            "/abs",
            "a//b",
            "a/",
            "../etc/passwd",
            "a/../b",
            ".hidden",
            "a/.meta/b",
            "a b",
            "a\\b",
            "é",
            "a?b",
            "a%2fb",
            "a\0b",
        ] {
            assert!(BlobKey::new(key).is_err(), "{key:?} was accepted");
        }
        assert!(BlobKey::new("a".repeat(1025)).is_err());
    }

    #[test]
    fn join_validates_the_segment() {
        let base = BlobKey::new("media/1").unwrap();
        assert_eq!(
            base.join("w720.webp").unwrap().as_str(),
            "media/1/w720.webp"
        );
        assert!(base.join("../x").is_err());
    }
}
