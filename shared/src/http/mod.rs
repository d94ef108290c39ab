//! The one outbound HTTP client every worker uses to call the outside world:
//! timeouts, retries with backoff on 5xx/429 (honouring `Retry-After`), a
//! circuit breaker per remote host, and logs with secrets redacted.
//!
//! ```no_run
//! # async fn example() -> Result<(), fleet_shared::http::HttpError> {
//! use fleet_shared::http::{HttpClient, HttpSettings};
//! let client = HttpClient::new(HttpSettings::default())?;
//! let request = client.inner().get("https://shop.example/admin/api/graphql.json").build()?;
//! let response = client.send(request, true).await?;
//! # Ok(()) }
//! ```

mod breaker;
mod redact;

pub use breaker::Breakers;
pub use redact::{redact_url, redacted_headers};

use reqwest::{Request, Response, StatusCode, header::RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// Why a request got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The host failed repeatedly; calls are refused until the cooldown ends.
    #[error("{host} is failing; calls paused for {retry_in_secs}s (circuit open)")]
    CircuitOpen {
        /// The remote host.
        host: String,
        /// Seconds until a trial call is allowed.
        retry_in_secs: u64,
    },
    /// No response within the timeout.
    #[error("{url} did not answer within {secs}s")]
    Timeout {
        /// The URL, secrets redacted.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// The connection failed.
    #[error("cannot reach {url}: {message}")]
    Connect {
        /// The URL, secrets redacted.
        url: String,
        /// What failed.
        message: String,
    },
    /// The request could not be built or sent.
    #[error("request to {url} failed: {message}")]
    Request {
        /// The URL, secrets redacted.
        url: String,
        /// What failed.
        message: String,
    },
}

impl From<reqwest::Error> for HttpError {
    fn from(err: reqwest::Error) -> Self {
        let url = err
            .url()
            .map(|u| redact_url(u.as_str()))
            .unwrap_or_default();
        HttpError::Request {
            url,
            message: err.without_url().to_string(),
        }
    }
}

/// Outbound client settings.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request, per attempt.
    pub request_timeout: Duration,
    /// Retries after the first attempt, for retryable failures.
    pub max_retries: u32,
    /// First retry delay; doubles each retry.
    pub backoff_base: Duration,
    /// Longest wait before a retry, including a server's `Retry-After`;
    /// a longer `Retry-After` ends retrying and returns the response.
    pub max_wait: Duration,
    /// Consecutive failures that open a host's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses calls.
    pub breaker_cooldown: Duration,
    /// `User-Agent` sent with every request.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            user_agent: format!("fleet/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A shared outbound client; clone it freely.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    settings: HttpSettings,
    breakers: Breakers,
}

impl HttpClient {
    /// A client with `settings`.
    pub fn new(settings: HttpSettings) -> Result<Self, HttpError> {
        let inner = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(settings.user_agent.clone())
            .build()?;
        Ok(HttpClient {
            breakers: Breakers::new(settings.breaker_threshold, settings.breaker_cooldown),
            inner,
            settings,
        })
    }

    /// The underlying reqwest client, for building requests.
    pub fn inner(&self) -> &reqwest::Client {
        &self.inner
    }

    /// Sends `request`. With `retry`, retryable failures (connection errors,
    /// timeouts, 429, 5xx) are retried with backoff; pass `retry` only for
    /// idempotent calls or calls carrying an idempotency key. Returns the
    /// final response, whatever its status, unless no response was had.
    pub async fn send(&self, request: Request, retry: bool) -> Result<Response, HttpError> {
        let host = request.url().host_str().unwrap_or_default().to_owned();
        let shown = redact_url(request.url().as_str());
        let method = request.method().clone();
        let mut attempt = 0u32;
        let mut pending = Some(request);
        loop {
            self.breakers.check(&host)?;
            let Some(current) = pending.take() else {
                return Err(HttpError::Request {
                    url: shown,
                    message: "request body cannot be replayed".to_owned(),
                });
            };
            let spare = if retry { current.try_clone() } else { None };
            let started = std::time::Instant::now();
            let result = self.inner.execute(current).await;
            let elapsed = started.elapsed();
            let can_retry = spare.is_some() && attempt < self.settings.max_retries;
            match result {
                Ok(response) => {
                    let status = response.status();
                    tracing::debug!(%method, url = %shown, status = status.as_u16(), ?elapsed, attempt, "outbound request");
                    if !is_retryable(status) {
                        self.breakers.success(&host);
                        return Ok(response);
                    }
                    if status.is_server_error() {
                        self.breakers.failure(&host);
                    }
                    let wait = retry_after(&response).unwrap_or_else(|| self.backoff(attempt));
                    if !can_retry || wait > self.settings.max_wait {
                        return Ok(response);
                    }
                    tracing::warn!(%method, url = %shown, status = status.as_u16(), retry_in = ?wait, "retrying outbound request");
                    tokio::time::sleep(wait).await;
                }
                Err(err) => {
                    self.breakers.failure(&host);
                    let err = classify(err, &shown, self.settings.request_timeout);
                    if !can_retry {
                        return Err(err);
                    }
                    let wait = self.backoff(attempt);
                    tracing::warn!(%method, url = %shown, error = %err, retry_in = ?wait, "retrying outbound request");
                    tokio::time::sleep(wait).await;
                }
            }
            attempt += 1;
            pending = spare;
        }
    }

    /// POSTs `form` URL-encoded to `url` (an OAuth token grant), retrying as
    /// [`HttpClient::send`] does; returns the status and the JSON body (null when it is not JSON).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, serde_json::Value), HttpError> {
        let request = self
            .inner
            .post(url)
            .form(form)
            .build()
            .map_err(|e| HttpError::Request {
                url: redact_url(url),
                message: e.without_url().to_string(),
            })?;
        let response = self.send(request, true).await?;
        let status = response.status();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .settings
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.settings.max_wait);
        // Jitter in [ceiling/2, ceiling] so that clients do not retry in lockstep.
        let half = ceiling / 2;
        half + Duration::from_millis(rand::random_range(0..=(ceiling - half).as_millis() as u64))
    }
}

/// Whether an answer with `status` is worth retrying later (429 and 5xx).
pub fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `answered {status}: {the body's first 200 characters}`, to name a refusal in an error.
pub async fn answered(response: Response) -> String {
    let status = response.status();
    let text: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    format!("answered {status}: {}", text.trim())
}

/// The wait a `Retry-After` header asks for (seconds or an HTTP date).
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn classify(err: reqwest::Error, url: &str, timeout: Duration) -> HttpError {
    if err.is_timeout() {
        HttpError::Timeout {
            url: url.to_owned(),
            secs: timeout.as_secs(),
        }
    } else if err.is_connect() {
        HttpError::Connect {
            url: url.to_owned(),
            message: err.without_url().to_string(),
        }
    } else {
        HttpError::Request {
            url: url.to_owned(),
            message: err.without_url().to_string(),
        }
    }
}
