//! Stripe's webhook signatures: `Stripe-Signature: t=<unix secs>,v1=<hex>`,
//! where v1 is HMAC-SHA256 under the endpoint secret over `"<t>.<raw body>"`.
//! A timestamp further than the tolerance from now is refused (replays).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance between the signature's timestamp and now.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a webhook signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `t=` or no `v1=` element.
    #[error("Stripe-Signature needs t= and v1= elements")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("the signature's timestamp is {age_secs}s from now (tolerance {TOLERANCE_SECS}s)")]
    Stale {
        /// Seconds between the timestamp and now.
        age_secs: i64,
    },
    /// No v1 signature matches.
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// The hex v1 signature of `body` at `timestamp`.
pub fn v1(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks `header` signs `body` under `secret` within the tolerance of `now_secs`.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", sig)) => candidates.push(sig),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let age_secs = now_secs.saturating_sub(timestamp);
    if age_secs.abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale { age_secs });
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let ok = candidates
        .iter()
        .any(|sig| hex::decode(sig).is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok()));
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_signed_bodies_within_tolerance() {
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t=1000,v1={}", v1("whsec_x", 1000, body));
        assert_eq!(verify("whsec_x", &header, body, 1_100), Ok(()));
        assert_eq!(verify("whsec_x", &header, body, 1_300), Ok(()));
        assert_eq!(
            verify("whsec_x", &header, body, 1_301),
            Err(SignatureError::Stale { age_secs: 301 })
        );
        assert_eq!(
            verify("whsec_y", &header, body, 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_x", &header, b"{}", 1_000),
            Err(SignatureError::Mismatch)
        );
        let rotated = format!("t=1000,v1=00ff,v1={}", v1("whsec_x", 1000, body));
        assert_eq!(verify("whsec_x", &rotated, body, 1_000), Ok(()));
        assert_eq!(
            verify("whsec_x", "v1=abc", body, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify("whsec_x", "t=1000", body, 1_000),
            Err(SignatureError::Malformed)
        );
    }
}
