//! The Web Push channel: one `DeliverPush` job per recipient sends the event
//! to each of the user's subscriptions, encrypted (RFC 8291, aes128gcm) and
//! signed with the installation's VAPID key (RFC 8292). A subscription the
//! push service says is gone (404, 410) is removed; one that already took the
//! event is not sent it again when the job is retried.

use super::{event::LoadedEvent, templates::Templates};
use crate::runtime::{JobContext, JobError, JobHandler};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use fleet_jobs::notify::DeliverPush;
use fleet_shared::{
    Db,
    config::NotifySettings,
    db::notify::PushSubscription,
    http::{HttpClient, HttpSettings, answered, is_retryable},
    notify::{Category, Channel, DeliveryState},
    vapid::VapidKey,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::{sync::Arc, time::Duration};
use web_push_native::{
    Auth, WebPushBuilder, jwt_simple::algorithms::ES256KeyPair, p256::PublicKey,
};

/// Largest plaintext one push message carries (4096 bytes encrypted, RFC 8291 §4).
pub const MAX_PAYLOAD: usize = 3_993;

/// Longest a VAPID token may be valid (RFC 8292 §2: at most 24 hours).
const TOKEN_VALIDITY: Duration = Duration::from_secs(12 * 3_600);

/// What the push service did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Accepted for delivery.
    Sent,
    /// The subscription no longer exists (404, 410).
    Gone,
    /// Refused for good (bad keys, payload too large, VAPID refused).
    Rejected(String),
    /// Worth retrying (no answer, 429, 5xx).
    Transient(String),
}

/// The JSON a service worker receives: what to show, and the event behind it.
pub fn payload(event: &LoadedEvent, title: &str, body: &str) -> Vec<u8> {
    let mut message = json!({
        "event_id": event.row.id,
        "type": event.event_type.as_str(),
        "title": title,
        "body": body,
        "data": event.data,
    });
    let bytes = serde_json::to_vec(&message).unwrap_or_default();
    if bytes.len() <= MAX_PAYLOAD {
        return bytes;
    }
    // Too big with the event's data: send what to show; the app fetches the rest.
    message["data"] = Value::Null;
    let mut body = body.to_owned();
    loop {
        message["body"] = Value::String(body.clone());
        let bytes = serde_json::to_vec(&message).unwrap_or_default();
        if bytes.len() <= MAX_PAYLOAD || body.is_empty() {
            return bytes;
        }
        let keep = body.chars().count() * 3 / 4;
        body = body.chars().take(keep).collect();
    }
}

/// The `Topic` header of an event (RFC 8030 §5.4): a resent message replaces
/// one the push service still holds, so a retry never shows twice.
pub fn topic(event_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(event_id.as_bytes())[..24])
}

/// Runs [`DeliverPush`] jobs on `notify.push` and the priority lane.
#[derive(Clone)]
pub struct PushHandler {
    db: Db,
    templates: Arc<Templates>,
    settings: NotifySettings,
    http: Result<HttpClient, String>,
    vapid: Result<Arc<ES256KeyPair>, String>,
}

impl std::fmt::Debug for PushHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The VAPID key pair is a secret: never printed.
        f.debug_struct("PushHandler").finish_non_exhaustive()
    }
}

impl PushHandler {
    /// A handler signing with `vapid` (jobs fail with its error when it is unusable).
    pub fn new(
        db: Db,
        templates: Arc<Templates>,
        settings: NotifySettings,
        vapid: Result<VapidKey, String>,
    ) -> Self {
        let vapid = vapid.and_then(|key| {
            ES256KeyPair::from_bytes(&key.private_bytes())
                .map(Arc::new)
                .map_err(|e| format!("VAPID key: {e}"))
        });
        let http = HttpClient::new(HttpSettings {
            max_retries: 1,
            ..HttpSettings::default()
        })
        .map_err(|e| e.to_string());
        PushHandler {
            db,
            templates,
            settings,
            http,
            vapid,
        }
    }

    /// Encrypts and sends `payload` to one subscription.
    async fn send(
        &self,
        key: &ES256KeyPair,
        http: &HttpClient,
        sub: &PushSubscription,
        payload: &[u8],
        headers: &[(&'static str, String)],
    ) -> PushOutcome {
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('='));
        let Ok(ua_public) = decode(&sub.p256dh)
            .map_err(|_| ())
            .and_then(|b| PublicKey::from_sec1_bytes(&b).map_err(|_| ()))
        else {
            return PushOutcome::Rejected(
                "the subscription's p256dh key is not a P-256 point".to_owned(),
            );
        };
        let Some(auth) = decode(&sub.auth)
            .ok()
            .filter(|b| b.len() == 16)
            .map(|b| Auth::clone_from_slice(&b))
        else {
            return PushOutcome::Rejected(
                "the subscription's auth secret is not 16 bytes".to_owned(),
            );
        };
        let Ok(endpoint) = sub.endpoint.parse() else {
            return PushOutcome::Rejected(format!("endpoint `{}` is not a URL", sub.endpoint));
        };
        let built = WebPushBuilder::new(endpoint, ua_public, auth)
            .with_valid_duration(TOKEN_VALIDITY)
            .with_vapid(key, &self.settings.vapid_subject)
            .build(payload.to_vec());
        let mut request = match built.map(reqwest::Request::try_from) {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => return PushOutcome::Rejected(format!("building the request: {e}")),
            Err(e) => return PushOutcome::Rejected(format!("encrypting the message: {e}")),
        };
        for (name, value) in headers {
            if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
                request.headers_mut().insert(*name, value);
            }
        }
        let response = match http.send(request, true).await {
            Ok(r) => r,
            Err(e) => return PushOutcome::Transient(e.to_string()),
        };
        let status = response.status();
        if status.is_success() {
            return PushOutcome::Sent;
        }
        let said = format!("push service {}", answered(response).await);
        match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => PushOutcome::Gone,
            s if is_retryable(s) => PushOutcome::Transient(said),
            _ => PushOutcome::Rejected(said),
        }
    }

    async fn settle(
        &self,
        job: &DeliverPush,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), JobError> {
        self.db
            .set_delivery(&job.event_id, Channel::Push, &job.user_id, state, reason)
            .await
            .map_err(JobError::retry)
    }
}

impl JobHandler for PushHandler {
    type Job = DeliverPush;

    async fn handle(&self, job: DeliverPush, ctx: JobContext) -> Result<(), JobError> {
        let state = self
            .db
            .delivery(&job.event_id, Channel::Push, &job.user_id)
            .await
            .map_err(JobError::retry)?;
        if state
            .as_ref()
            .is_some_and(|(s, _)| s == DeliveryState::Sent.as_str())
        {
            return Ok(());
        }
        let (key, http) = match (&self.vapid, &self.http) {
            (Ok(key), Ok(http)) => (key, http),
            (Err(e), _) | (_, Err(e)) => {
                self.settle(&job, DeliveryState::Failed, Some(e)).await?;
                return Err(JobError::Permanent(e.clone()));
            }
        };
        let event = LoadedEvent::load(&self.db, &job.event_id).await?;
        let subs = self
            .db
            .push_subscriptions(&job.user_id)
            .await
            .map_err(JobError::retry)?;
        if subs.is_empty() {
            return self
                .settle(
                    &job,
                    DeliveryState::Suppressed,
                    Some("no_push_subscription"),
                )
                .await;
        }
        let already = self
            .db
            .pushed_subscriptions(&job.event_id, &job.user_id)
            .await
            .map_err(JobError::retry)?;
        let user = self
            .db
            .notify_user(&job.user_id)
            .await
            .map_err(JobError::retry)?;
        let locale = user
            .as_ref()
            .map_or(self.settings.default_locale.as_str(), |u| u.locale.as_str());
        let (title, body) = self
            .templates
            .texts(locale, event.event_type.as_str(), &event.data)
            .map_err(JobError::permanent)?;
        let message = payload(&event, &title, &body);
        let urgency = match event.event_type.category() {
            Category::Transactions | Category::Messages => "high",
            Category::FollowedSellers | Category::LikedItems => "normal",
        };
        let headers = [
            ("ttl", self.settings.push_ttl_secs.to_string()),
            ("urgency", urgency.to_owned()),
            ("topic", topic(&job.event_id)),
        ];
        let mut sent = already.len();
        let (mut gone, mut rejected, mut transient) = (0, Vec::new(), None);
        for sub in subs.iter().filter(|s| !already.contains(&s.id)) {
            match self.send(key, http, sub, &message, &headers).await {
                PushOutcome::Sent => {
                    self.db
                        .record_push_send(&job.event_id, &sub.id)
                        .await
                        .map_err(JobError::retry)?;
                    sent += 1;
                }
                PushOutcome::Gone => {
                    tracing::info!(user_id = %job.user_id, subscription = %sub.id, "push subscription gone: removed");
                    self.db
                        .delete_push_subscription(&sub.id)
                        .await
                        .map_err(JobError::retry)?;
                    gone += 1;
                }
                PushOutcome::Rejected(reason) => rejected.push(reason),
                PushOutcome::Transient(reason) => transient = Some(reason),
            }
        }
        if let Some(reason) = &transient
            && ctx.attempt < ctx.max_attempts
        {
            // Counts the attempt; the subscriptions that took it are not sent it again.
            self.settle(&job, DeliveryState::Queued, None).await?;
            return Err(JobError::Retry(reason.clone()));
        }
        if sent > 0 {
            return self.settle(&job, DeliveryState::Sent, None).await;
        }
        let reason = transient
            .or_else(|| rejected.into_iter().next())
            .unwrap_or_else(|| format!("every subscription is gone (404/410): {gone} removed"));
        tracing::warn!(event_id = %job.event_id, user_id = %job.user_id, %reason, "push failed");
        self.settle(&job, DeliveryState::Failed, Some(&reason))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_shared::{db::notify_events::NotifyEvent, notify::EventType};

    fn event(data: Value) -> LoadedEvent {
        LoadedEvent {
            row: NotifyEvent {
                id: "ev_1".into(),
                idempotency_key: "k".into(),
                event_type: "item_sold".into(),
                actor: None,
                data: data.to_string(),
                audience: "{}".into(),
                priority: true,
                created_at: 0,
                digest_key: None,
            },
            event_type: EventType::ItemSold,
            data,
        }
    }

    #[test]
    fn payloads_fit_one_push_message() {
        let small = payload(&event(json!({"title": "Lamp"})), "Sold", "Lamp sold");
        let v: Value = serde_json::from_slice(&small).unwrap();
        assert_eq!(v["data"]["title"], "Lamp");
        assert_eq!(v["title"], "Sold");
        let big = payload(
            &event(json!({"notes": "x".repeat(10_000)})),
            "Sold",
            &"é".repeat(5_000),
        );
        assert!(big.len() <= MAX_PAYLOAD, "{}", big.len());
        let v: Value = serde_json::from_slice(&big).unwrap();
        assert!(v["data"].is_null());
        assert_eq!(v["event_id"], "ev_1");
        assert!(v["body"].as_str().unwrap().starts_with("éé"));
    }

    #[test]
    fn topics_are_short_stable_and_url_safe() {
        let t = topic("ev_01JABCDEF");
        assert_eq!(t.len(), 32);
        assert_eq!(t, topic("ev_01JABCDEF"));
        assert_ne!(t, topic("ev_01JABCDEG"));
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
