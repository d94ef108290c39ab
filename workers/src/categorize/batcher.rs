//! Listings of concurrent jobs ranked together. Each job asks for its own
//! listing; one task hands everything waiting to the model in one call, so a
//! busy worker embeds in batches (every core busy, one model pass per batch)
//! instead of one listing per pass. A lone request is served at once: no
//! timer waits for company.

use super::{CategorizeError, ListingText, embedded::EmbeddedClassifier, embedded::Scored};
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use tokio::sync::{mpsc, oneshot};

/// Rankings of a request's listings, in order.
type Ranked = Result<Vec<Vec<Scored>>, CategorizeError>;

/// Listings waiting to be ranked, and where to send their rankings.
struct Request {
    items: Vec<ListingText>,
    reply: oneshot::Sender<Ranked>,
}

/// A handle on the batching task. Clone freely; the task stops with the last handle.
#[derive(Debug, Clone)]
pub struct Batcher {
    requests: mpsc::UnboundedSender<Request>,
    calls: Arc<AtomicU64>,
}

impl Batcher {
    /// Starts the batching task on the current tokio runtime: it ranks the
    /// `pool` best categories of every listing, taking up to `max_items`
    /// listings per model call.
    pub fn start(model: Arc<EmbeddedClassifier>, pool: usize, max_items: usize) -> Batcher {
        let (requests, waiting) = mpsc::unbounded_channel();
        let calls = Arc::new(AtomicU64::new(0));
        tokio::spawn(serve(
            model,
            pool,
            max_items.max(1),
            waiting,
            Arc::clone(&calls),
        ));
        Batcher { requests, calls }
    }

    /// The best categories of each of `items`, best first, in order.
    pub async fn rank(&self, items: Vec<ListingText>) -> Ranked {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { items, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Model calls made so far (each one batch of requests).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

fn stopped() -> CategorizeError {
    CategorizeError::Inference("the ranking task stopped".to_owned())
}

/// Takes the next request and every other one already waiting (up to
/// `max_items` listings), ranks them in one model call off the async
/// threads, and answers each.
async fn serve(
    model: Arc<EmbeddedClassifier>,
    pool: usize,
    max_items: usize,
    mut waiting: mpsc::UnboundedReceiver<Request>,
    calls: Arc<AtomicU64>,
) {
    while let Some(first) = waiting.recv().await {
        let mut count = first.items.len();
        let mut batch = vec![first];
        while count < max_items {
            let Ok(next) = waiting.try_recv() else { break };
            count += next.items.len();
            batch.push(next);
        }
        let sizes: Vec<usize> = batch.iter().map(|r| r.items.len()).collect();
        let items: Vec<ListingText> = batch
            .iter_mut()
            .flat_map(|r| std::mem::take(&mut r.items))
            .collect();
        let model = Arc::clone(&model);
        let ranked = tokio::task::spawn_blocking(move || model.rank(&items, pool))
            .await
            .unwrap_or_else(|e| Err(CategorizeError::Inference(format!("ranking stopped: {e}"))));
        calls.fetch_add(1, Ordering::Relaxed);
        match ranked {
            Ok(all) => {
                let mut all = all.into_iter();
                for (request, size) in batch.into_iter().zip(sizes) {
                    let _ = request.reply.send(Ok(all.by_ref().take(size).collect()));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for request in batch {
                    let _ = request
                        .reply
                        .send(Err(CategorizeError::Inference(message.clone())));
                }
            }
        }
    }
}
