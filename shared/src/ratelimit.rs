//! Token buckets shared by every process that names the same key: in Redis
//! when there is one (the API's per-credential limits, the export worker's
//! per-connection marketplace limits), in memory for a single process
//! (`fleet dev`). A request takes `cost` tokens; tokens come back at `rate`
//! per second up to `burst`.

use redis::{Script, aio::ConnectionManager};
use std::{collections::HashMap, sync::Mutex, time::Instant};

/// A bucket's shape: refill rate and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens added per second.
    pub rate: f64,
    /// Most tokens the bucket holds.
    pub burst: f64,
}

impl Bucket {
    /// A bucket refilled at `rate` per second holding at most `burst` (both at least a tiny positive value).
    pub fn new(rate: f64, burst: f64) -> Bucket {
        Bucket {
            rate: rate.max(0.001),
            burst: burst.max(1.0),
        }
    }
}

/// The answer to one take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Taken {
    /// Whether the tokens were taken.
    pub allowed: bool,
    /// Tokens left in the bucket (after the take, when allowed).
    pub tokens: f64,
}

impl Taken {
    /// How long until `cost` tokens are there, given `bucket` (zero when allowed).
    pub fn wait(&self, cost: f64, bucket: Bucket) -> std::time::Duration {
        if self.allowed {
            return std::time::Duration::ZERO;
        }
        std::time::Duration::from_secs_f64(((cost - self.tokens).max(0.0) / bucket.rate).max(0.001))
    }
}

/// Why a bucket could not be consulted.
#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable (Redis): {0}")]
pub struct RateLimitError(#[from] redis::RedisError);

/// Token buckets by key.
pub enum TokenBuckets {
    /// Buckets in this process.
    Memory(Mutex<HashMap<String, (f64, Instant)>>),
    /// Buckets in Redis, shared by every process using the same server.
    Redis {
        /// Connection.
        conn: ConnectionManager,
        /// The take script.
        take: Script,
        /// The lower script.
        lower: Script,
    },
}

impl std::fmt::Debug for TokenBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenBuckets::Memory(_) => f.write_str("TokenBuckets::Memory"),
            TokenBuckets::Redis { .. } => f.write_str("TokenBuckets::Redis"),
        }
    }
}

/// KEYS[1] bucket; ARGV rate, burst, cost. Returns {allowed, tokens}.
const TAKE_LUA: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"#;

/// KEYS[1] bucket; ARGV rate, burst, tokens: the bucket holds at most `tokens` from now.
const LOWER_LUA: &str = r#"
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate, tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return 1
"#;

/// Why [`TokenBuckets::acquire`] gave up: the tokens would come after its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the rate limit would need more waiting than allowed")]
pub struct WaitTooLong;

/// Most buckets a memory store keeps before forgetting full ones.
const MEMORY_KEYS: usize = 100_000;

impl TokenBuckets {
    /// Buckets in this process.
    pub fn memory() -> Self {
        TokenBuckets::Memory(Mutex::default())
    }

    /// Buckets in Redis.
    pub fn redis(conn: ConnectionManager) -> Self {
        TokenBuckets::Redis {
            conn,
            take: Script::new(TAKE_LUA),
            lower: Script::new(LOWER_LUA),
        }
    }

    /// Buckets in Redis at `url` when given, else in memory.
    pub async fn connect(redis_url: Option<&str>) -> Result<Self, RateLimitError> {
        match redis_url {
            Some(url) => {
                let client = redis::Client::open(url)?;
                Ok(TokenBuckets::redis(ConnectionManager::new(client).await?))
            }
            None => Ok(TokenBuckets::memory()),
        }
    }

    /// Takes `cost` tokens from the bucket `key` if it holds them.
    pub async fn take(
        &self,
        key: &str,
        cost: f64,
        bucket: Bucket,
    ) -> Result<Taken, RateLimitError> {
        match self {
            TokenBuckets::Memory(buckets) => Ok(Self::update_memory(buckets, key, bucket, |t| {
                let allowed = *t >= cost;
                if allowed {
                    *t -= cost;
                }
                allowed
            })),
            TokenBuckets::Redis { conn, take, .. } => {
                let mut conn = conn.clone();
                let (allowed, tokens): (i64, String) = take
                    .key(format!("fleet:ratelimit:{key}"))
                    .arg(bucket.rate)
                    .arg(bucket.burst)
                    .arg(cost)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(Taken {
                    allowed: allowed == 1,
                    tokens: tokens.parse().unwrap_or(0.0),
                })
            }
        }
    }

    /// Waits until bucket `key` holds `cost` tokens and takes them, giving up
    /// when they would come after `deadline`. An unreachable store lets the
    /// call through: the remote side's own limit still answers it.
    pub async fn acquire(
        &self,
        key: &str,
        cost: f64,
        bucket: Bucket,
        deadline: std::time::Instant,
    ) -> Result<(), WaitTooLong> {
        loop {
            let taken = match self.take(key, cost, bucket).await {
                Ok(taken) => taken,
                Err(err) => {
                    tracing::warn!(error = %err, key, "rate limiter unavailable; calling anyway");
                    return Ok(());
                }
            };
            if taken.allowed {
                return Ok(());
            }
            let wait = taken.wait(cost, bucket);
            if std::time::Instant::now() + wait > deadline {
                return Err(WaitTooLong);
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Lowers bucket `key` to at most `tokens` (what the remote side says is left).
    pub async fn lower(
        &self,
        key: &str,
        tokens: f64,
        bucket: Bucket,
    ) -> Result<(), RateLimitError> {
        match self {
            TokenBuckets::Memory(buckets) => {
                Self::update_memory(buckets, key, bucket, |t| {
                    *t = t.min(tokens);
                    true
                });
                Ok(())
            }
            TokenBuckets::Redis { conn, lower, .. } => {
                let mut conn = conn.clone();
                let _: i64 = lower
                    .key(format!("fleet:ratelimit:{key}"))
                    .arg(bucket.rate)
                    .arg(bucket.burst)
                    .arg(tokens)
                    .invoke_async(&mut conn)
                    .await?;
                Ok(())
            }
        }
    }

    /// Refills bucket `key` in memory, then lets `change` act on its tokens.
    fn update_memory(
        buckets: &Mutex<HashMap<String, (f64, Instant)>>,
        key: &str,
        bucket: Bucket,
        change: impl FnOnce(&mut f64) -> bool,
    ) -> Taken {
        let now = Instant::now();
        let Ok(mut buckets) = buckets.lock() else {
            return Taken {
                allowed: true,
                tokens: bucket.burst,
            };
        };
        if buckets.len() > MEMORY_KEYS {
            buckets.retain(|_, (_, at)| {
                now.duration_since(*at).as_secs_f64() < bucket.burst / bucket.rate
            });
        }
        let (tokens, at) = buckets.entry(key.to_owned()).or_insert((bucket.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * bucket.rate).min(bucket.burst);
        *at = now;
        let allowed = change(tokens);
        Taken {
            allowed,
            tokens: *tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_bucket_takes_costs_and_lowers() {
        let buckets = TokenBuckets::memory();
        let shape = Bucket::new(1.0, 25.0);
        assert!(buckets.take("a", 10.0, shape).await.unwrap().allowed);
        assert!(buckets.take("a", 10.0, shape).await.unwrap().allowed);
        let third = buckets.take("a", 10.0, shape).await.unwrap();
        assert!(!third.allowed);
        let wait = third.wait(10.0, shape).as_secs_f64();
        assert!(
            (4.0..=5.1).contains(&wait),
            "waits for the missing tokens: {wait}"
        );
        assert!(
            buckets.take("b", 10.0, shape).await.unwrap().allowed,
            "buckets are per key"
        );
        buckets.lower("b", 3.0, shape).await.unwrap();
        assert!(!buckets.take("b", 10.0, shape).await.unwrap().allowed);
    }
}
