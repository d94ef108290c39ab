//! Per-credential request limits on token buckets: in memory for one process
//! (`fleet dev`), in Redis when several API replicas must share the count.

use fleet_shared::ratelimit::{Bucket, TokenBuckets};

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Bucket size.
    pub limit: u32,
    /// Whole tokens left.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// Seconds until one token is available (0 when allowed).
    pub retry_after_secs: u64,
}

/// Limits each credential to `per_sec` requests per second with bursts of `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    bucket: Bucket,
    buckets: TokenBuckets,
}

impl RateLimiter {
    /// Limits over `buckets` (in memory for one process, in Redis for several).
    pub fn new(buckets: TokenBuckets, per_sec: u32, burst: u32) -> Self {
        RateLimiter {
            bucket: Bucket::new(f64::from(per_sec.max(1)), f64::from(burst.max(1))),
            buckets,
        }
    }

    /// Takes one token from `credential`'s bucket if it has one.
    pub async fn check(&self, credential: &str) -> Decision {
        let Bucket { rate, burst } = self.bucket;
        match self.buckets.take(credential, 1.0, self.bucket).await {
            Ok(taken) => decide(taken.allowed, taken.tokens, burst, rate),
            Err(err) => {
                // Failing open: an unreachable Redis must not take the API down; /readyz reports it.
                tracing::warn!(error = %err, "rate limiter unavailable; allowing request");
                decide(true, burst, burst, rate)
            }
        }
    }
}

fn decide(allowed: bool, tokens: f64, burst: f64, per_sec: f64) -> Decision {
    Decision {
        allowed,
        limit: burst as u32,
        remaining: tokens.max(0.0).floor() as u32,
        reset_secs: ((burst - tokens).max(0.0) / per_sec).ceil() as u64,
        retry_after_secs: if allowed {
            0
        } else {
            ((1.0 - tokens).max(0.0) / per_sec).ceil().max(1.0) as u64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_bucket_allows_burst_then_refuses() {
        let limiter = RateLimiter::new(TokenBuckets::memory(), 1, 3);
        for left in [2, 1, 0] {
            let d = limiter.check("a").await;
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = limiter.check("a").await;
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        assert!(
            limiter.check("b").await.allowed,
            "buckets are per credential"
        );
    }
}
