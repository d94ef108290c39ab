//! Settings of notifications: fan-out chunking, caps, templates' fallback
//! language, SMTP, Web Push (VAPID) and webhook retries.

use serde::{Deserialize, Serialize};

/// How events fan out and how each channel delivers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Recipients per fan-out chunk job.
    pub fanout_chunk: usize,
    /// Most `user_ids` accepted in one event.
    pub max_user_ids: usize,
    /// Promotional notifications (email and push) per user and local day; 0 turns the cap off.
    pub daily_promotional_cap: u32,
    /// Language used when no template exists for the recipient's locale.
    pub default_locale: String,
    /// `smtp://host:port` (STARTTLS when offered), `smtp://…?tls=required`, `smtps://host:port`
    /// (implicit TLS) or `smtp://…?tls=none` (plain, for local sinks). Email is off when unset.
    pub smtp_url: Option<String>,
    /// PEM certificate(s) trusted for the SMTP server besides the system's
    /// roots: a private CA or a self-signed server.
    pub smtp_ca_file: Option<std::path::PathBuf>,
    /// SMTP user name.
    pub smtp_username: Option<String>,
    /// SMTP password.
    pub smtp_password: Option<String>,
    /// The From address of emails.
    pub email_from: String,
    /// Base URL of the unsubscribe page; the List-Unsubscribe header adds `?user=…&category=…`.
    pub unsubscribe_url: String,
    /// Emails of events posted with the same `digest_key` to one user within
    /// one window of this many seconds go out as one digest, at the window's end.
    pub digest_window_secs: u64,
    /// The VAPID private key (RFC 8292): a P-256 scalar, 32 bytes base64url, as
    /// `npx web-push generate-vapid-keys` prints it. When unset it is derived
    /// from `secret_key`; set it to keep subscriptions valid across a secret rotation.
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim: how the push service reaches the operator (`mailto:` or `https:`).
    pub vapid_subject: String,
    /// How long a push service keeps an undelivered message (the `TTL` header), in seconds.
    pub push_ttl_secs: u64,
    /// Seconds before each webhook retry (attempt 2, 3, …); after the last, the delivery fails.
    pub webhook_retry_secs: Vec<u64>,
    /// An endpoint whose deliveries all failed for this long is disabled.
    pub webhook_disable_after_secs: u64,
    /// Time allowed for one webhook request.
    pub webhook_timeout_secs: u64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            fanout_chunk: 5_000,
            max_user_ids: 10_000,
            daily_promotional_cap: 3,
            default_locale: "en".to_owned(),
            smtp_url: None,
            smtp_ca_file: None,
            smtp_username: None,
            smtp_password: None,
            email_from: "Fleet <notifications@localhost>".to_owned(),
            unsubscribe_url: "http://localhost/unsubscribe".to_owned(),
            digest_window_secs: 3_600,
            vapid_private_key: None,
            vapid_subject: "mailto:notifications@localhost".to_owned(),
            push_ttl_secs: 24 * 3_600,
            webhook_retry_secs: vec![5, 300, 1_800, 7_200, 18_000, 36_000],
            webhook_disable_after_secs: 5 * 24 * 3_600,
            webhook_timeout_secs: 15,
        }
    }
}
