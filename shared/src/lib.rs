//! Fleet's shared layer: configuration, the database, queue backends, the
//! outbound HTTP client, blob store, the ledger and telemetry. Both the API and the
//! workers build on it; it knows nothing of HTTP routes or job handlers.

pub mod blob;
pub mod config;
pub mod db;
pub mod export;
pub mod http;
pub mod ledger;
pub mod notify;
pub mod payout;
pub mod queue;
pub mod ratelimit;
pub mod seal;
pub mod secret;
pub mod signal;
pub mod taxonomy;
pub mod telemetry;
pub mod time;
pub mod vapid;

pub use config::Config;
pub use db::{Db, DbError};
pub use queue::{QueueError, Queues};
