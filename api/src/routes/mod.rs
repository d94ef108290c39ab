//! The route table, built in one place from one function per resource module.

pub mod blobs;
pub mod categorize;
pub mod category_map;
pub mod connections;
pub mod dashboard;
pub mod events;
pub mod exports;
pub mod health;
pub mod inbox;
pub mod jobs;
pub mod listings;
pub mod media;
pub mod metrics;
pub mod ops;
pub mod orders;
pub mod payouts;
pub mod sellers;
pub mod stripe;
pub mod taxonomy;
pub mod users;
pub mod webhooks;

use crate::state::AppState;
use axum::Router;

/// Routes under `/v1`, all behind bearer authentication.
pub fn v1() -> Router<AppState> {
    Router::new()
        .merge(events::router())
        .merge(inbox::router())
        .merge(categorize::router())
        .merge(connections::router())
        .merge(category_map::router())
        .merge(exports::router())
        .merge(jobs::router())
        .merge(listings::router())
        .merge(media::router())
        .merge(ops::router())
        .merge(orders::router())
        .merge(payouts::router())
        .merge(sellers::router())
        .merge(taxonomy::router())
        .merge(users::router())
        .merge(webhooks::router())
}

/// Routes that need no bearer credential: health, metrics, and signed blob URLs.
pub fn public() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(blobs::router())
        .merge(metrics::router())
        .merge(stripe::router())
        .merge(dashboard::router())
}

pub(crate) use fleet_shared::time::rfc3339;

/// Rows read with `limit + 1`: the first `limit`, and the cursor of the next
/// page (the last kept row's `key`) when the extra row came back.
pub(crate) fn split_page<R>(
    mut rows: Vec<R>,
    limit: i64,
    key: impl Fn(&R) -> String,
) -> (Vec<R>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(key) } else { None };
    (rows, next)
}
