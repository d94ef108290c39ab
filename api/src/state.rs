//! What every handler shares: database, queues, configuration, credentials.

use crate::{
    auth::{Authenticator, JwtConfigError, JwtVerifier},
    middleware::rate_limit::RateLimiter,
};
use fleet_shared::{
    Config, Db, QueueError, Queues, blob::Blobs, ledger::Ledger, ratelimit::TokenBuckets,
};
use metrics_exporter_prometheus::PrometheusHandle;
use std::{ops::Deref, sync::Arc};

/// Why the API could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The JWT keys could not be loaded.
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    /// Redis for shared rate limits could not be reached.
    #[error("{0}")]
    Redis(#[from] fleet_shared::ratelimit::RateLimitError),
    /// The queue backend failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Shared handler state; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The database.
    pub db: Db,
    /// The queue backend.
    pub queues: Queues,
    /// The blob store.
    pub blobs: Blobs,
    /// The seller-money ledger (order events, balances).
    pub ledger: Ledger,
    /// Effective configuration.
    pub config: Config,
    /// Bearer credential checks.
    pub auth: Authenticator,
    /// Per-credential rate limits.
    pub limiter: RateLimiter,
    /// Prometheus registry of this process.
    pub metrics: PrometheusHandle,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// State for `config`, over an open database, queue backend and blob store.
    pub async fn new(config: Config, queues: Queues, blobs: Blobs) -> Result<AppState, StateError> {
        let jwt = JwtVerifier::from_settings(&config.jwt)?;
        let api = &config.api;
        let limiter = RateLimiter::new(
            TokenBuckets::connect(config.redis_url.as_deref()).await?,
            api.rate_limit_per_sec,
            api.rate_limit_burst,
        );
        Ok(AppState(Arc::new(Inner {
            db: queues.db().clone(),
            ledger: Ledger::new(queues.clone(), &config),
            queues,
            blobs,
            auth: Authenticator::new(jwt),
            limiter,
            metrics: fleet_shared::telemetry::metrics(),
            config,
        })))
    }
}
