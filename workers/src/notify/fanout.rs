//! The fan-out job: one chunk of an event's audience (keyset-paginated by user
//! id). A full chunk first enqueues the next one, so several workers share a
//! big event. Per recipient it applies preferences, the daily cap for
//! promotional types and quiet hours, writes inbox rows in bulk and records a
//! delivery state per channel, enqueueing one email and one push job per
//! recipient (in bulk, due at the end of quiet hours) when the channel is set
//! up; the emails of an event with a digest key join the recipient's digest
//! for the current window instead. The first chunk also queues the event for
//! each webhook endpoint that wants it. Every write is keyed by (event,
//! recipient): redoing a chunk after a crash writes nothing twice.

use super::{event::LoadedEvent, quiet, templates::Templates};
use crate::runtime::{JobContext, JobError, JobHandler};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use fleet_jobs::notify::{DeliverDigest, DeliverEmail, DeliverPush, DeliverWebhook, FanoutChunk};
use fleet_shared::{
    Db, Queues,
    config::NotifySettings,
    db::{
        jobs::NewJob,
        notify::{NotifyUser, Preference},
        notify_events::{NewDelivery, NewInboxItem, NotifyEvent},
    },
    notify::{Channel, DeliveryState, EventType},
};
use serde::Deserialize;
use std::{collections::HashMap, sync::Arc};

/// One event in one user's digest: (user, digest key, window start, event).
type DigestItem = (String, String, i64, String);

/// The audience as stored with the event.
#[derive(Debug, Deserialize)]
struct Audience {
    user_ids: Option<Vec<String>>,
    followers_of: Option<String>,
    likers_of: Option<String>,
}

/// What happens to one recipient on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deliver, not before `run_at` (ms since epoch; quiet hours defer it).
    Deliver {
        /// When.
        run_at: i64,
    },
    /// Do not deliver, for this reason.
    Suppress(&'static str),
}

/// What a recipient gets, per user channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The inbox (never deferred).
    pub inbox: Decision,
    /// Email.
    pub email: Decision,
    /// Web Push.
    pub push: Decision,
}

/// Everything the rules need to know about one recipient.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    /// The user, if known.
    pub user: Option<&'a NotifyUser>,
    /// Their stored preferences.
    pub prefs: &'a [Preference],
    /// Whether they have a push subscription.
    pub has_push: bool,
    /// Promotional notifications they already got today (their local day).
    pub sent_today: i64,
}

/// Applies preferences, the daily cap and quiet hours to one recipient at `now`.
pub fn plan(event_type: EventType, r: Recipient<'_>, cap: u32, now: DateTime<Utc>) -> Plan {
    let category = event_type.category();
    let enabled = |channel: Channel| {
        !category.is_mutable()
            || r.prefs
                .iter()
                .find(|p| p.category == category && p.channel == channel)
                .is_none_or(|p| p.enabled)
    };
    let now_ms = now.timestamp_millis();
    let inbox = if enabled(Channel::Inbox) {
        Decision::Deliver { run_at: now_ms }
    } else {
        Decision::Suppress("muted")
    };
    let tz: Tz = r
        .user
        .and_then(|u| u.time_zone.parse().ok())
        .unwrap_or(Tz::UTC);
    let run_at = r
        .user
        .and_then(|u| u.quiet_hours)
        .and_then(|(start, end)| quiet::window_end(now, tz, start, end))
        .map_or(now_ms, |end| end.timestamp_millis());
    let over_cap = event_type.is_promotional() && cap > 0 && r.sent_today >= i64::from(cap);
    let outbound = |channel: Channel, reachable: bool, missing: &'static str| {
        if !enabled(channel) {
            Decision::Suppress("muted")
        } else if !reachable {
            Decision::Suppress(missing)
        } else if over_cap {
            Decision::Suppress("daily_cap")
        } else {
            Decision::Deliver { run_at }
        }
    };
    Plan {
        inbox,
        email: outbound(
            Channel::Email,
            r.user.is_some_and(|u| u.email.is_some()),
            "no_email_address",
        ),
        push: outbound(Channel::Push, r.has_push, "no_push_subscription"),
    }
}

/// Runs [`FanoutChunk`] jobs.
#[derive(Debug, Clone)]
pub struct FanoutHandler {
    db: Db,
    queues: Queues,
    templates: Arc<Templates>,
    settings: NotifySettings,
    max_attempts: i32,
    push_on: bool,
}

impl FanoutHandler {
    /// A handler writing to `db` and enqueueing follow-up chunks and
    /// deliveries on `queues`; `push_on` when a VAPID key is usable.
    pub fn new(
        db: Db,
        queues: Queues,
        templates: Arc<Templates>,
        settings: NotifySettings,
        max_attempts: i32,
        push_on: bool,
    ) -> Self {
        FanoutHandler {
            db,
            queues,
            templates,
            settings,
            max_attempts,
            push_on,
        }
    }

    /// Queues the event for every enabled webhook endpoint that wants its type
    /// (once per event: from its first chunk).
    async fn webhooks(&self, event: &LoadedEvent, priority: bool) -> Result<(), JobError> {
        let endpoints = self.db.webhook_endpoints().await.map_err(JobError::retry)?;
        let mut deliveries = Vec::new();
        let mut jobs = Vec::new();
        for endpoint in endpoints
            .iter()
            .filter(|e| e.wants(event.event_type.as_str()))
        {
            deliveries.push(NewDelivery {
                event_id: event.row.id.clone(),
                channel: Channel::Webhook,
                recipient: endpoint.id.clone(),
                state: DeliveryState::Queued,
                reason: None,
            });
            let send = DeliverWebhook {
                event_id: event.row.id.clone(),
                endpoint_id: endpoint.id.clone(),
                attempt: 1,
                priority,
            };
            jobs.push(NewJob::of(&send, self.max_attempts).map_err(JobError::permanent)?);
        }
        if jobs.is_empty() {
            return Ok(());
        }
        self.db
            .insert_deliveries(&deliveries)
            .await
            .map_err(JobError::retry)?;
        self.queues.enqueue(jobs).await.map_err(JobError::retry)?;
        Ok(())
    }

    /// The job delivering `event` to `user_id` on `channel` (email or push),
    /// due at `run_at`. An email of an event with a digest key joins the
    /// user's digest for the event's window instead: one job per user, key
    /// and window, due at the window's end, and the digest item to record.
    fn delivery_job(
        &self,
        channel: Channel,
        event: &NotifyEvent,
        user_id: &str,
        priority: bool,
        run_at: i64,
    ) -> Result<(NewJob, Option<DigestItem>), JobError> {
        let (event_id, user) = (event.id.clone(), user_id.to_owned());
        let (job, due, digest) = match (channel, &event.digest_key) {
            (Channel::Email, Some(key)) => {
                let window = (self.settings.digest_window_secs.max(1) * 1_000) as i64;
                let window_start = event.created_at - event.created_at.rem_euclid(window);
                let job = DeliverDigest {
                    user_id: user.clone(),
                    digest_key: key.clone(),
                    window_start,
                };
                (
                    NewJob::of(&job, self.max_attempts),
                    run_at.max(window_start + window),
                    Some((user, key.clone(), window_start, event_id)),
                )
            }
            (Channel::Email, None) => {
                let job = DeliverEmail {
                    event_id,
                    user_id: user,
                    priority,
                };
                (NewJob::of(&job, self.max_attempts), run_at, None)
            }
            _ => {
                let job = DeliverPush {
                    event_id,
                    user_id: user,
                    priority,
                };
                (NewJob::of(&job, self.max_attempts), run_at, None)
            }
        };
        let mut job = job.map_err(JobError::permanent)?;
        job.run_at = due;
        Ok((job, digest))
    }

    async fn page(
        &self,
        audience: &Audience,
        after: Option<&str>,
    ) -> Result<Vec<String>, JobError> {
        let limit = self.settings.fanout_chunk;
        if let Some(ids) = &audience.user_ids {
            // Stored sorted and deduplicated by the API.
            return Ok(ids
                .iter()
                .filter(|id| after.is_none_or(|a| id.as_str() > a))
                .take(limit)
                .cloned()
                .collect());
        }
        let (likes, target) = match (&audience.followers_of, &audience.likers_of) {
            (Some(seller), _) => (false, seller),
            (None, Some(listing)) => (true, listing),
            (None, None) => {
                return Err(JobError::Permanent("the event has no audience".to_owned()));
            }
        };
        self.db
            .audience_page(likes, target, after, limit as i64)
            .await
            .map_err(JobError::retry)
    }
}

impl JobHandler for FanoutHandler {
    type Job = FanoutChunk;

    async fn handle(&self, job: FanoutChunk, _ctx: JobContext) -> Result<(), JobError> {
        let loaded = LoadedEvent::load(&self.db, &job.event_id).await?;
        if job.after.is_none() {
            self.webhooks(&loaded, job.priority).await?;
        }
        let LoadedEvent {
            row: event,
            event_type,
            data,
        } = loaded;
        let audience: Audience = serde_json::from_str(&event.audience)
            .map_err(|e| JobError::Permanent(format!("corrupt audience: {e}")))?;
        let page = self.page(&audience, job.after.as_deref()).await?;
        if page.len() == self.settings.fanout_chunk
            && let Some(last) = page.last()
        {
            let next = FanoutChunk {
                event_id: event.id.clone(),
                after: Some(last.clone()),
                priority: job.priority,
            };
            let next = NewJob::of(&next, self.max_attempts).map_err(JobError::permanent)?;
            self.queues
                .enqueue(vec![next])
                .await
                .map_err(JobError::retry)?;
        }
        if page.is_empty() {
            return Ok(());
        }
        let users = self.db.notify_users(&page).await.map_err(JobError::retry)?;
        let prefs = self
            .db
            .preferences_of(&page)
            .await
            .map_err(JobError::retry)?;
        let with_push = self
            .db
            .users_with_push(&page)
            .await
            .map_err(JobError::retry)?;
        let now = Utc::now();
        let days: Vec<(String, String)> = page
            .iter()
            .map(|id| {
                let tz: Tz = users
                    .get(id)
                    .and_then(|u| u.time_zone.parse().ok())
                    .unwrap_or(Tz::UTC);
                (id.clone(), quiet::local_day(now, tz))
            })
            .collect();
        let sent_today = if event_type.is_promotional() {
            self.db
                .cap_counts(&days, &event.id)
                .await
                .map_err(JobError::retry)?
        } else {
            HashMap::new()
        };
        let mut texts: HashMap<String, (String, String)> = HashMap::new();
        let mut inbox = Vec::new();
        let mut deliveries = Vec::new();
        let mut capped = Vec::new();
        let mut jobs = Vec::new();
        let mut digest_items = Vec::new();
        let email_on = self.settings.smtp_url.is_some();
        for (id, day) in &days {
            let user = users.get(id);
            let recipient = Recipient {
                user,
                prefs: prefs.get(id).map_or(&[], Vec::as_slice),
                has_push: with_push.contains(id),
                sent_today: sent_today.get(id).copied().unwrap_or(0),
            };
            let plan = plan(
                event_type,
                recipient,
                self.settings.daily_promotional_cap,
                now,
            );
            let suppress = |channel: Channel, reason: &str| NewDelivery {
                event_id: event.id.clone(),
                channel,
                recipient: id.clone(),
                state: DeliveryState::Suppressed,
                reason: Some(reason.to_owned()),
            };
            match plan.inbox {
                Decision::Deliver { .. } => {
                    let locale =
                        user.map_or(self.settings.default_locale.as_str(), |u| u.locale.as_str());
                    if !texts.contains_key(locale) {
                        let rendered = self
                            .templates
                            .texts(locale, event_type.as_str(), &data)
                            .map_err(JobError::permanent)?;
                        texts.insert(locale.to_owned(), rendered);
                    }
                    let (title, body) = texts.get(locale).cloned().unwrap_or_default();
                    inbox.push(NewInboxItem {
                        event_id: event.id.clone(),
                        user_id: id.clone(),
                        event_type: event.event_type.clone(),
                        title,
                        body,
                        data: event.data.clone(),
                    });
                }
                Decision::Suppress(reason) => deliveries.push(suppress(Channel::Inbox, reason)),
            }
            let mut outbound = false;
            for (channel, decision) in [(Channel::Email, &plan.email), (Channel::Push, &plan.push)]
            {
                match decision {
                    Decision::Suppress(reason) => deliveries.push(suppress(channel, reason)),
                    Decision::Deliver { run_at }
                        if (channel == Channel::Email && email_on)
                            || (channel == Channel::Push && self.push_on) =>
                    {
                        outbound = true;
                        deliveries.push(NewDelivery {
                            event_id: event.id.clone(),
                            channel,
                            recipient: id.clone(),
                            state: DeliveryState::Queued,
                            reason: None,
                        });
                        let (send, digest) =
                            self.delivery_job(channel, &event, id, job.priority, *run_at)?;
                        jobs.push(send);
                        digest_items.extend(digest);
                    }
                    // Unset senders (email without smtp_url, push without a VAPID key): recorded, never silently dropped.
                    Decision::Deliver { .. } => {
                        outbound = true;
                        deliveries.push(suppress(channel, "channel_not_configured"));
                    }
                }
            }
            if outbound && event_type.is_promotional() {
                capped.push((id.clone(), day.clone()));
            }
        }
        self.db
            .insert_inbox(&inbox)
            .await
            .map_err(JobError::retry)?;
        self.db
            .insert_deliveries(&deliveries)
            .await
            .map_err(JobError::retry)?;
        self.db
            .insert_cap_hits(&capped, &event.id)
            .await
            .map_err(JobError::retry)?;
        self.db
            .insert_digest_items(&digest_items)
            .await
            .map_err(JobError::retry)?;
        // After the deliveries are recorded; the jobs' idempotency keys make a redone chunk enqueue nothing twice.
        if !jobs.is_empty() {
            self.queues.enqueue(jobs).await.map_err(JobError::retry)?;
        }
        tracing::debug!(event_id = %event.id, recipients = page.len(), inbox = inbox.len(), "fan-out chunk done");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_shared::notify::Category;

    fn user(tz: &str, quiet: Option<(i32, i32)>) -> NotifyUser {
        NotifyUser {
            id: "u".into(),
            email: Some("u@example.com".into()),
            locale: "en".into(),
            time_zone: tz.into(),
            quiet_hours: quiet,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn preferences_mute_but_not_transactional_types() {
        let u = user("UTC", None);
        let prefs = [
            Preference {
                category: Category::FollowedSellers,
                channel: Channel::Email,
                enabled: false,
            },
            Preference {
                category: Category::Transactions,
                channel: Channel::Push,
                enabled: false,
            },
        ];
        let r = Recipient {
            user: Some(&u),
            prefs: &prefs,
            has_push: true,
            sent_today: 0,
        };
        let now = at("2026-01-15T12:00:00Z");
        let p = plan(EventType::NewListing, r, 3, now);
        assert_eq!(p.email, Decision::Suppress("muted"));
        assert!(matches!(p.push, Decision::Deliver { .. }));
        assert!(matches!(p.inbox, Decision::Deliver { .. }));
        let p = plan(EventType::ItemSold, r, 3, now);
        assert!(
            matches!(p.push, Decision::Deliver { .. }),
            "transactional ignores a stored opt-out"
        );
    }

    #[test]
    fn daily_cap_applies_to_promotional_types_only() {
        let u = user("UTC", None);
        let r = Recipient {
            user: Some(&u),
            prefs: &[],
            has_push: true,
            sent_today: 3,
        };
        let now = at("2026-01-15T12:00:00Z");
        let p = plan(EventType::PriceDrop, r, 3, now);
        assert_eq!(p.push, Decision::Suppress("daily_cap"));
        assert!(matches!(p.inbox, Decision::Deliver { .. }));
        assert!(matches!(
            plan(EventType::NewMessage, r, 3, now).push,
            Decision::Deliver { .. }
        ));
        assert!(matches!(
            plan(EventType::PriceDrop, r, 0, now).push,
            Decision::Deliver { .. }
        ));
    }

    #[test]
    fn quiet_hours_defer_push_and_email_but_not_the_inbox() {
        let u = user("America/New_York", Some((22 * 60, 7 * 60)));
        let r = Recipient {
            user: Some(&u),
            prefs: &[],
            has_push: true,
            sent_today: 0,
        };
        // 04:00 UTC = 23:00 in New York (EST): quiet until 07:00 EST = 12:00 UTC.
        let now = at("2026-01-15T04:00:00Z");
        let p = plan(EventType::NewMessage, r, 3, now);
        let end = at("2026-01-15T12:00:00Z").timestamp_millis();
        assert_eq!(p.push, Decision::Deliver { run_at: end });
        assert_eq!(p.email, Decision::Deliver { run_at: end });
        assert_eq!(
            p.inbox,
            Decision::Deliver {
                run_at: now.timestamp_millis()
            }
        );
        // US DST starts 2026-03-08: 07:00 EDT = 11:00 UTC.
        let now = at("2026-03-08T05:00:00Z"); // 00:00 EST
        assert_eq!(
            plan(EventType::NewMessage, r, 3, now).push,
            Decision::Deliver {
                run_at: at("2026-03-08T11:00:00Z").timestamp_millis()
            }
        );
    }

    #[test]
    fn unknown_users_get_the_inbox_only() {
        let r = Recipient {
            user: None,
            prefs: &[],
            has_push: false,
            sent_today: 0,
        };
        let p = plan(EventType::ItemSold, r, 3, at("2026-01-15T12:00:00Z"));
        assert!(matches!(p.inbox, Decision::Deliver { .. }));
        assert_eq!(p.email, Decision::Suppress("no_email_address"));
        assert_eq!(p.push, Decision::Suppress("no_push_subscription"));
    }
}
