//! Configuration: defaults, overridden by an optional TOML file, overridden by
//! `FLEET_*` environment variables. A wrong value fails at start with a
//! message naming the setting.
//!
//! Environment names are the setting path in upper case with `__` between
//! levels: `FLEET_DATABASE_URL` sets `database_url`,
//! `FLEET_KINDS__MEDIA__CONCURRENCY` sets `kinds.media.concurrency`. An unknown
//! `FLEET_*` name is an error (it is usually a typo); `FLEET_TEST_*` names are
//! left to the test suite.

mod categorize;
mod export;
mod kinds;
mod load;
mod media;
mod notify;
mod payout;
mod supervise;

pub use categorize::{CategorizeProvider, CategorizeSettings, OpenAiSettings};
pub use export::ExportSettings;
pub use kinds::{KindSettings, KindsSettings};
pub use load::ConfigError;
pub use media::{MediaSettings, X264_PRESETS};
pub use notify::NotifySettings;
pub use payout::{PayoutProvider, PayoutSettings};
pub use supervise::SuperviseSettings;

use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// Fleet's effective settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Where `fleet worker` serves `/metrics` and `/healthz` (off when unset).
    pub worker_metrics_listen: Option<SocketAddr>,
    /// Base URL clients use to reach the API (used in signed blob URLs and status links).
    pub public_url: Option<String>,
    /// Directory for the embedded database, blobs and generated secrets.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; defaults to a SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// Most connections each process opens to the database (its pool size).
    pub database_max_connections: u32,
    /// `redis://…`; when set, queues live in Redis, otherwise in the SQL database.
    pub redis_url: Option<String>,
    /// `file:///path` or `s3://bucket?endpoint=…`; defaults to `data_dir/blobs`.
    pub blob_url: Option<String>,
    /// S3 access key id; when unset, the usual AWS sources apply (`AWS_ACCESS_KEY_ID`, profiles, roles).
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key, used with `s3_access_key_id`.
    pub s3_secret_access_key: Option<String>,
    /// Secret for signing URLs and deriving encryption keys; generated in `data_dir` when unset.
    pub secret_key: Option<String>,
    /// Earlier secret keys, still accepted to open credentials sealed under them (key rotation).
    pub secret_key_previous: Vec<String>,
    /// Log filter (`info`, `fleet=debug,info`).
    pub log: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Queue runtime settings shared by every kind.
    pub queue: QueueSettings,
    /// Per worker kind settings.
    pub kinds: KindsSettings,
    /// HTTP API limits.
    pub api: ApiSettings,
    /// End-user JWT verification.
    pub jwt: JwtSettings,
    /// Media limits and variants.
    pub media: MediaSettings,
    /// Ledger and payouts: fees, hold period, minimum payouts.
    pub payout: PayoutSettings,
    /// Listing categorization: provider, model files, apply threshold.
    pub categorize: CategorizeSettings,
    /// The local autoscaler, `fleet supervise`.
    pub supervise: SuperviseSettings,
    /// Notifications: fan-out, caps, SMTP, webhooks.
    pub notify: NotifySettings,
    /// Marketplace exports: chunk size, marketplace API addresses.
    pub export: ExportSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            worker_metrics_listen: None,
            public_url: None,
            data_dir: PathBuf::from(".fleet"),
            database_url: None,
            database_max_connections: crate::db::DEFAULT_MAX_CONNECTIONS,
            redis_url: None,
            blob_url: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            secret_key: None,
            secret_key_previous: Vec::new(),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            queue: QueueSettings::default(),
            kinds: KindsSettings::default(),
            api: ApiSettings::default(),
            jwt: JwtSettings::default(),
            media: MediaSettings::default(),
            payout: PayoutSettings::default(),
            categorize: CategorizeSettings::default(),
            supervise: SuperviseSettings::default(),
            notify: NotifySettings::default(),
            export: ExportSettings::default(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of the job runtime common to all queues.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// A job whose worker sent no heartbeat for this long returns to its queue.
    pub lease_secs: u64,
    /// How often a worker polls an empty queue, at most.
    pub idle_poll_ms: u64,
    /// Jobs fetched per round trip, at most.
    pub fetch_batch: usize,
    /// How long SIGTERM waits for in-flight jobs before exiting.
    pub shutdown_grace_secs: u64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            lease_secs: 30,
            idle_poll_ms: 500,
            fetch_batch: 100,
            shutdown_grace_secs: 30,
        }
    }
}

/// Limits of the HTTP API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Sustained requests per second allowed per credential.
    pub rate_limit_per_sec: u32,
    /// Burst size of the per-credential token bucket.
    pub rate_limit_burst: u32,
    /// Largest upload through a signed URL of the local blob store, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            body_limit_bytes: 2 * 1024 * 1024,
            rate_limit_per_sec: 50,
            rate_limit_burst: 100,
            max_upload_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// How end-user JWTs from the marketplace's identity service are verified.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// Shared secret for HS256 tokens.
    pub hs256_secret: Option<String>,
    /// Path of a JWKS file holding RS256 public keys.
    pub jwks_file: Option<PathBuf>,
    /// Expected `iss`, if any.
    pub issuer: Option<String>,
    /// Expected `aud`, if any.
    pub audience: Option<String>,
    /// Claim carrying the seller id (default `seller_id`).
    pub seller_claim: Option<String>,
}

impl Config {
    /// Loads defaults, then `file` (if any), then `FLEET_*` variables from the process environment.
    pub fn load(file: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        load::load(file, std::env::vars())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/fleet.db", self.data_dir.display()))
    }

    /// The blob store URL in effect.
    pub fn blob_url(&self) -> String {
        self.blob_url.clone().unwrap_or_else(|| {
            let dir = std::path::absolute(self.data_dir.join("blobs"))
                .unwrap_or_else(|_| self.data_dir.join("blobs"));
            format!("file://{}", dir.display())
        })
    }

    /// The public base URL of the API, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// The configuration as TOML with every secret replaced by `***`.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        let mask = |v: &mut Option<String>| {
            if v.is_some() {
                *v = Some("***".to_owned());
            }
        };
        mask(&mut shown.secret_key);
        for previous in &mut shown.secret_key_previous {
            *previous = "***".to_owned();
        }
        mask(&mut shown.s3_secret_access_key);
        mask(&mut shown.jwt.hs256_secret);
        mask(&mut shown.payout.stripe_secret_key);
        mask(&mut shown.payout.stripe_webhook_secret);
        mask(&mut shown.categorize.openai.api_key);
        mask(&mut shown.notify.smtp_password);
        mask(&mut shown.notify.vapid_private_key);
        shown.notify.smtp_url = self.notify.smtp_url.as_deref().map(mask_url_password);
        shown.database_url = Some(mask_url_password(&self.database_url()));
        shown.redis_url = self.redis_url.as_deref().map(mask_url_password);
        shown.blob_url = Some(mask_url_password(&self.blob_url()));
        shown.public_url = Some(self.public_url());
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Replaces the password of `scheme://user:password@host` (and `secret_key=` query values) with `***`.
pub fn mask_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        if let Some(at) = out[rest_start..].find('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    for key in ["secret_key=", "secret_access_key=", "password="] {
        if let Some(pos) = out.find(key) {
            let start = pos + key.len();
            let end = out[start..].find('&').map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "***");
        }
    }
    out
}
