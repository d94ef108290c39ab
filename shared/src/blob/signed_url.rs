//! Signed URLs for the filesystem store: the API serves `/v1/blobs/{key}` to
//! whoever holds a URL signed with HMAC-SHA256 that has not expired.

use super::BlobKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Path prefix under which the API serves signed blob URLs.
pub const BLOB_ROUTE_PREFIX: &str = "/v1/blobs/";

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedMethod {
    /// Download.
    Get,
    /// Upload.
    Put,
}

impl SignedMethod {
    /// The HTTP method name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignedMethod::Get => "GET",
            SignedMethod::Put => "PUT",
        }
    }
}

/// The signed query parameters of a blob URL.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct SignedQuery {
    /// Unix time (seconds) after which the URL is refused.
    pub expires: u64,
    /// Content type an upload must declare.
    #[serde(default)]
    pub ct: Option<String>,
    /// Exact size in bytes an upload must have.
    #[serde(default)]
    pub len: Option<u64>,
    /// Hex HMAC of the above.
    pub sig: String,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature does not match (tampered URL, or another key).
    #[error("the URL signature is invalid")]
    Invalid,
    /// The URL's lifetime is over.
    #[error("the URL expired; request a new one")]
    Expired,
}

/// Signs and verifies blob URLs with a key derived from the secret key.
#[derive(Clone)]
pub struct UrlSigner {
    key: [u8; 32],
    base_url: String,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSigner")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// A signer whose URLs start with `base_url` (the API's public URL).
    pub fn new(key: [u8; 32], base_url: &str) -> UrlSigner {
        UrlSigner {
            key,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// A URL allowing `method` on `key` until `ttl` from now; uploads may be bound to a content type and exact size.
    pub fn sign(
        &self,
        method: SignedMethod,
        key: &BlobKey,
        ttl: Duration,
        content_type: Option<&str>,
        content_length: Option<u64>,
    ) -> (String, SystemTime) {
        let expires_at = SystemTime::now() + ttl;
        let expires = expires_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let query = SignedQuery {
            expires,
            ct: content_type.map(str::to_owned),
            len: content_length,
            sig: String::new(),
        };
        let sig = hex::encode(self.mac(method, key, &query).finalize().into_bytes());
        let mut url = format!(
            "{}{BLOB_ROUTE_PREFIX}{key}?expires={expires}",
            self.base_url
        );
        if let Some(ct) = &query.ct {
            url.push_str("&ct=");
            url.push_str(&percent_encode(ct));
        }
        if let Some(len) = query.len {
            url.push_str(&format!("&len={len}"));
        }
        url.push_str("&sig=");
        url.push_str(&sig);
        (url, expires_at)
    }

    /// Checks that `query` was signed for `method` on `key` and has not expired.
    pub fn verify(
        &self,
        method: SignedMethod,
        key: &BlobKey,
        query: &SignedQuery,
    ) -> Result<(), SignatureError> {
        let sig = hex::decode(&query.sig).map_err(|_| SignatureError::Invalid)?;
        self.mac(method, key, query)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::Invalid)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now > query.expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    fn mac(&self, method: SignedMethod, key: &BlobKey, query: &SignedQuery) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let len = query.len.map(|l| l.to_string()).unwrap_or_default();
        let message = format!(
            "fleet-blob-v1\n{}\n{key}\n{}\n{}\n{len}",
            method.as_str(),
            query.expires,
            query.ct.as_deref().unwrap_or_default(),
        );
        mac.update(message.as_bytes());
        mac
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(url: &str) -> SignedQuery {
        let query = url.split_once('?').unwrap().1;
        serde_urlencoded::from_str(query).unwrap()
    }

    #[test]
    fn a_signed_url_verifies_for_its_method_and_key_only() {
        let signer = UrlSigner::new([7; 32], "http://127.0.0.1:8080/");
        let key = BlobKey::new("media/1/source").unwrap();
        let (url, _) = signer.sign(
            SignedMethod::Put,
            &key,
            Duration::from_secs(60),
            Some("image/jpeg; charset=x"),
            Some(42),
        );
        assert!(url.starts_with("http://127.0.0.1:8080/v1/blobs/media/1/source?expires="));
        let query = query_of(&url);
        assert_eq!(query.ct.as_deref(), Some("image/jpeg; charset=x"));
        assert_eq!(signer.verify(SignedMethod::Put, &key, &query), Ok(()));
        assert_eq!(
            signer.verify(SignedMethod::Get, &key, &query),
            Err(SignatureError::Invalid)
        );
        let other = BlobKey::new("media/2/source").unwrap();
        assert_eq!(
            signer.verify(SignedMethod::Put, &other, &query),
            Err(SignatureError::Invalid)
        );
        let bigger = SignedQuery {
            len: Some(43),
            ..query.clone()
        };
        assert_eq!(
            signer.verify(SignedMethod::Put, &key, &bigger),
            Err(SignatureError::Invalid)
        );
        let other_signer = UrlSigner::new([8; 32], "http://127.0.0.1:8080");
        assert_eq!(
            other_signer.verify(SignedMethod::Put, &key, &query),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn an_expired_url_is_refused() {
        let signer = UrlSigner::new([7; 32], "http://h");
        let key = BlobKey::new("a").unwrap();
        let (url, _) = signer.sign(SignedMethod::Get, &key, Duration::ZERO, None, None);
        let mut query = query_of(&url);
        query.expires -= 1;
        // Re-signing is impossible without the key, so an edited expiry is invalid, not expired.
        assert_eq!(
            signer.verify(SignedMethod::Get, &key, &query),
            Err(SignatureError::Invalid)
        );
        std::thread::sleep(Duration::from_millis(1100));
        let query = query_of(&url);
        assert_eq!(
            signer.verify(SignedMethod::Get, &key, &query),
            Err(SignatureError::Expired)
        );
    }
}
