//! A per-process cache of what marketplaces answer the same for a while
//! (Etsy's seller taxonomy, the product types Amazon offers): one value per
//! key, fetched by the first caller while the others for that key wait, kept
//! for a fixed time. Failures are not kept: the next caller fetches again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// One key's slot: its value and when it was fetched.
type Slot<T> = Arc<tokio::sync::Mutex<Option<(Instant, Arc<T>)>>>;

/// Values by key, each kept for `ttl`.
#[derive(Debug)]
pub struct TtlCache<T> {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot<T>>>,
}

impl<T> TtlCache<T> {
    /// An empty cache keeping each value for `ttl`.
    pub fn new(ttl: Duration) -> TtlCache<T> {
        TtlCache {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The value of `key`: the kept one while fresh, else what `fetch` returns (kept when Ok).
    pub async fn get_or_fetch<E, F, Fut>(&self, key: &str, fetch: F) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(slots.entry(key.to_owned()).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some((at, value)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(value));
        }
        let value = Arc::new(fetch().await?);
        *slot = Some((Instant::now(), Arc::clone(&value)));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn fetches_once_per_key_until_stale_and_never_keeps_failures() {
        let cache: TtlCache<u32> = TtlCache::new(Duration::from_millis(200));
        let calls = AtomicU32::new(0);
        let fetch = || async { Ok::<_, ()>(calls.fetch_add(1, Ordering::SeqCst) + 1) };
        assert_eq!(*cache.get_or_fetch("a", fetch).await.unwrap(), 1);
        assert_eq!(*cache.get_or_fetch("a", fetch).await.unwrap(), 1);
        assert_eq!(*cache.get_or_fetch("b", fetch).await.unwrap(), 2);
        assert_eq!(
            cache
                .get_or_fetch("c", || async { Err::<u32, _>("down") })
                .await,
            Err("down")
        );
        assert_eq!(*cache.get_or_fetch("c", fetch).await.unwrap(), 3);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(*cache.get_or_fetch("a", fetch).await.unwrap(), 4);
    }
}
