//! Per-credential token buckets: in memory for one process (`fleet dev`), in
//! Redis when several API replicas must share the count.

use redis::{Script, aio::ConnectionManager};
use std::{collections::HashMap, sync::Mutex, time::Instant};

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
pub enum RateLimiter {
    /// Buckets in this process.
    Memory {
        /// Refill rate.
        per_sec: f64,
        /// Bucket size.
        burst: f64,
        /// Tokens and last refill, by credential.
        buckets: Mutex<HashMap<String, (f64, Instant)>>,
    },
    /// Buckets in Redis, shared by every API process.
    Redis {
        /// Refill rate.
        per_sec: f64,
        /// Bucket size.
        burst: f64,
        /// Connection.
        conn: ConnectionManager,
        /// The bucket script.
        script: Script,
    },
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateLimiter::Memory { .. } => f.write_str("RateLimiter::Memory"),
            RateLimiter::Redis { .. } => f.write_str("RateLimiter::Redis"),
        }
    }
}

const BUCKET_LUA: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + (t - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"#;

impl RateLimiter {
    /// Buckets in this process.
    pub fn memory(per_sec: u32, burst: u32) -> Self {
        RateLimiter::Memory {
            per_sec: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    /// Buckets in Redis.
    pub fn redis(conn: ConnectionManager, per_sec: u32, burst: u32) -> Self {
        RateLimiter::Redis {
            per_sec: f64::from(per_sec.max(1)),
            burst: f64::from(burst.max(1)),
            conn,
            script: Script::new(BUCKET_LUA),
        }
    }

    /// Takes one token from `credential`'s bucket if it has one.
    pub async fn check(&self, credential: &str) -> Decision {
        match self {
            RateLimiter::Memory {
                per_sec,
                burst,
                buckets,
            } => {
                let now = Instant::now();
                let Ok(mut buckets) = buckets.lock() else {
                    return decide(true, *burst, *burst, *per_sec);
                };
                if buckets.len() > 100_000 {
                    buckets.retain(|_, (_, at)| {
                        now.duration_since(*at).as_secs_f64() < burst / per_sec
                    });
                }
                let (tokens, at) = buckets
                    .entry(credential.to_owned())
                    .or_insert((*burst, now));
                *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_sec).min(*burst);
                *at = now;
                let allowed = *tokens >= 1.0;
                if allowed {
                    *tokens -= 1.0;
                }
                decide(allowed, *tokens, *burst, *per_sec)
            }
            RateLimiter::Redis {
                per_sec,
                burst,
                conn,
                script,
            } => {
                let mut conn = conn.clone();
                let reply: Result<(i64, String), _> = script
                    .key(format!("fleet:ratelimit:{credential}"))
                    .arg(*per_sec)
                    .arg(*burst)
                    .invoke_async(&mut conn)
                    .await;
                match reply {
                    Ok((allowed, tokens)) => decide(
                        allowed == 1,
                        tokens.parse().unwrap_or(0.0),
                        *burst,
                        *per_sec,
                    ),
                    Err(err) => {
                        // Failing open: an unreachable Redis must not take the API down; /readyz reports it.
                        tracing::warn!(error = %err, "rate limiter unavailable; allowing request");
                        decide(true, *burst, *burst, *per_sec)
                    }
                }
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
        let limiter = RateLimiter::memory(1, 3);
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
