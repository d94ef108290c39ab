//! The webhook channel: one `DeliverWebhook` job per event, endpoint and
//! attempt POSTs the event signed as Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! id.timestamp.body>`). A failed attempt schedules the next one on
//! `notify.webhook_retry_secs`; an endpoint failing for
//! `notify.webhook_disable_after_secs` is disabled. Every attempt is logged.

use super::event::LoadedEvent;
use crate::runtime::{JobContext, JobError, JobHandler};
use base64::{Engine, engine::general_purpose::STANDARD};
use fleet_jobs::notify::DeliverWebhook;
use fleet_shared::{
    Db, Queues,
    config::NotifySettings,
    db::{jobs::NewJob, notify::WebhookAttempt},
    http::{HttpClient, HttpSettings, answered},
    notify::{Channel, DeliveryState, WEBHOOK_SECRET_PREFIX as SECRET_PREFIX},
    seal::Sealer,
};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

/// The `webhook-signature` value of a message: `v1,` and the base64 HMAC-SHA256
/// of `{id}.{timestamp}.{body}` under the secret's bytes (the base64 after `whsec_`).
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|_| "the endpoint's secret is not whsec_ and base64".to_owned())?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The body sent for an event: Standard Webhooks' `{type, timestamp, data}`.
pub fn body(event: &LoadedEvent) -> Vec<u8> {
    let audience: Value = serde_json::from_str(&event.row.audience).unwrap_or(Value::Null);
    let posted: Value = serde_json::from_str(&event.row.data).unwrap_or(Value::Null);
    let message = json!({
        "type": event.event_type.as_str(),
        "timestamp": fleet_shared::time::rfc3339(event.row.created_at),
        "data": {
            "id": event.row.id,
            "idempotency_key": event.row.idempotency_key,
            "actor": event.row.actor,
            "audience": audience,
            "data": posted,
        },
    });
    serde_json::to_vec(&message).unwrap_or_default()
}

/// Runs [`DeliverWebhook`] jobs on `notify.webhook` and the priority lane.
#[derive(Clone)]
pub struct WebhookHandler {
    db: Db,
    queues: Queues,
    settings: NotifySettings,
    sealer: Result<Sealer, String>,
    http: Result<HttpClient, String>,
    max_attempts: i32,
}

impl std::fmt::Debug for WebhookHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookHandler").finish_non_exhaustive()
    }
}

impl WebhookHandler {
    /// A handler opening endpoint secrets with `sealer`.
    pub fn new(
        db: Db,
        queues: Queues,
        settings: NotifySettings,
        sealer: Result<Sealer, String>,
        max_attempts: i32,
    ) -> Self {
        // No client-side retries: a failed attempt is retried on the schedule, as a new job.
        let http = HttpClient::new(HttpSettings {
            request_timeout: Duration::from_secs(settings.webhook_timeout_secs.max(1)),
            max_retries: 0,
            ..HttpSettings::default()
        })
        .map_err(|e| e.to_string());
        WebhookHandler {
            db,
            queues,
            settings,
            sealer,
            http,
            max_attempts,
        }
    }

    async fn settle(
        &self,
        job: &DeliverWebhook,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), JobError> {
        self.db
            .set_delivery(
                &job.event_id,
                Channel::Webhook,
                &job.endpoint_id,
                state,
                reason,
            )
            .await
            .map_err(JobError::retry)
    }

    /// POSTs the signed message; the status code (if any answer came) and what went wrong.
    async fn post(
        &self,
        url: &str,
        secret: &str,
        id: &str,
        body: &[u8],
    ) -> (Option<u16>, Option<String>) {
        let http = match &self.http {
            Ok(http) => http,
            Err(e) => return (None, Some(e.clone())),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signed = match signature(secret, id, timestamp, body) {
            Ok(s) => s,
            Err(e) => return (None, Some(e)),
        };
        let request = http
            .inner()
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(body.to_vec())
            .build();
        let request = match request {
            Ok(r) => r,
            Err(e) => return (None, Some(format!("building the request: {e}"))),
        };
        match http.send(request, false).await {
            Ok(response) if response.status().is_success() => {
                (Some(response.status().as_u16()), None)
            }
            Ok(response) => (
                Some(response.status().as_u16()),
                Some(answered(response).await),
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    }
}

impl JobHandler for WebhookHandler {
    type Job = DeliverWebhook;

    async fn handle(&self, job: DeliverWebhook, _ctx: JobContext) -> Result<(), JobError> {
        let state = self
            .db
            .delivery(&job.event_id, Channel::Webhook, &job.endpoint_id)
            .await
            .map_err(JobError::retry)?;
        if state.as_ref().is_some_and(|(s, _)| {
            s == DeliveryState::Sent.as_str() || s == DeliveryState::Failed.as_str()
        }) {
            return Ok(());
        }
        let Some(endpoint) = self
            .db
            .webhook_endpoint(&job.endpoint_id)
            .await
            .map_err(JobError::retry)?
        else {
            return self
                .settle(&job, DeliveryState::Suppressed, Some("endpoint_deleted"))
                .await;
        };
        if endpoint.status != "enabled" {
            return self
                .settle(&job, DeliveryState::Suppressed, Some("endpoint_disabled"))
                .await;
        }
        let sealer = self
            .sealer
            .as_ref()
            .map_err(|e| JobError::Permanent(e.clone()))?;
        let secret = sealer
            .open(&endpoint.id, &endpoint.secret_sealed)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                JobError::Permanent(format!(
                    "the secret of endpoint {} does not open",
                    endpoint.id
                ))
            })?;
        let event = LoadedEvent::load(&self.db, &job.event_id).await?;
        let body = body(&event);
        let started = Instant::now();
        let (status_code, error) = self
            .post(&endpoint.url, &secret, &event.row.id, &body)
            .await;
        let now = chrono::Utc::now().timestamp_millis();
        self.db
            .log_webhook_attempt(&WebhookAttempt {
                id: 0,
                endpoint_id: endpoint.id.clone(),
                event_id: event.row.id.clone(),
                message_id: event.row.id.clone(),
                attempt: job.attempt as i32,
                status_code: status_code.map(i32::from),
                error: error.clone(),
                duration_ms: started.elapsed().as_millis() as i64,
                created_at: now,
            })
            .await
            .map_err(JobError::retry)?;
        let disable_after_ms = (self.settings.webhook_disable_after_secs * 1_000) as i64;
        let after = self
            .db
            .record_webhook_result(&endpoint.id, error.is_none(), disable_after_ms)
            .await
            .map_err(JobError::retry)?;
        let Some(error) = error else {
            return self.settle(&job, DeliveryState::Sent, None).await;
        };
        if let Some(disabled) = after.filter(|e| e.status != "enabled") {
            let reason = disabled.disabled_reason.unwrap_or_default();
            metrics::counter!("fleet_notify_webhook_endpoints_disabled_total").increment(1);
            tracing::error!(endpoint_id = %disabled.id, url = %fleet_shared::http::redact_url(&disabled.url), %reason, "webhook endpoint disabled");
            return self
                .settle(
                    &job,
                    DeliveryState::Failed,
                    Some(&format!("endpoint disabled: {reason}")),
                )
                .await;
        }
        let Some(wait) = self
            .settings
            .webhook_retry_secs
            .get(job.attempt as usize - 1)
        else {
            let reason = format!("gave up after {} attempts: {error}", job.attempt);
            return self
                .settle(&job, DeliveryState::Failed, Some(&reason))
                .await;
        };
        let next = DeliverWebhook {
            attempt: job.attempt + 1,
            ..job.clone()
        };
        let mut next = NewJob::of(&next, self.max_attempts).map_err(JobError::permanent)?;
        next.run_at = now + (*wait * 1_000) as i64;
        self.queues
            .enqueue(vec![next])
            .await
            .map_err(JobError::retry)?;
        // Still queued: the next attempt is due; the reason says why this one failed.
        self.settle(&job, DeliveryState::Queued, Some(&error)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification's test vectors.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(signature("whsec_???", "m", 1, b"").is_err());
    }
}
