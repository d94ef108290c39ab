//! Notification events, the in-app inbox, delivery states and the daily cap.
//! Every fan-out write is keyed by (event, recipient) and ignores conflicts,
//! so a chunk done twice writes nothing twice.

use super::{Db, DbError, notify::BATCH, now_ms, on_pool};
use crate::notify::{Channel, DeliveryState};
use std::collections::HashMap;

/// An event as accepted by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEvent {
    /// Id (`ev_…`).
    pub id: String,
    /// The backend's key: the same key is one event.
    pub idempotency_key: String,
    /// Event type name.
    pub event_type: String,
    /// Who caused it, if anyone.
    pub actor: Option<String>,
    /// Template data (JSON object).
    pub data: String,
    /// The audience (JSON: `{"user_ids":[…]}`, `{"followers_of":…}` or `{"likers_of":…}`).
    pub audience: String,
    /// Whether it runs on the priority lane.
    pub priority: bool,
    /// When it was accepted (ms).
    pub created_at: i64,
    /// Emails of events sharing this key within a digest window go out as one.
    pub digest_key: Option<String>,
}

/// An inbox row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxItem {
    /// The event.
    pub event_id: String,
    /// The recipient.
    pub user_id: String,
    /// Event type name.
    pub event_type: String,
    /// Rendered title.
    pub title: String,
    /// Rendered body.
    pub body: String,
    /// The event's data (JSON).
    pub data: String,
}

/// An inbox row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxItem {
    /// Row id, also the pagination cursor.
    pub id: i64,
    /// The event.
    pub event_id: String,
    /// Event type name.
    pub event_type: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// The event's data (JSON).
    pub data: String,
    /// When it was written (ms).
    pub created_at: i64,
    /// When it was read (ms), if it was.
    pub read_at: Option<i64>,
}

/// A delivery to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The event.
    pub event_id: String,
    /// The channel.
    pub channel: Channel,
    /// A user id, or a webhook endpoint id.
    pub recipient: String,
    /// Its state.
    pub state: DeliveryState,
    /// Why (suppressed or failed).
    pub reason: Option<String>,
}

/// How many deliveries of an event are in one channel x state (x reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    /// The channel.
    pub channel: String,
    /// The state.
    pub state: String,
    /// The reason (suppressed and failed).
    pub reason: Option<String>,
    /// How many.
    pub count: i64,
}

type EventRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i32,
    i64,
    Option<String>,
);

fn event_from(r: EventRow) -> NotifyEvent {
    NotifyEvent {
        id: r.0,
        idempotency_key: r.1,
        event_type: r.2,
        actor: r.3,
        data: r.4,
        audience: r.5,
        priority: r.6 != 0,
        created_at: r.7,
        digest_key: r.8,
    }
}

const EVENT_COLUMNS: &str =
    "id, idempotency_key, type, actor, data, audience, priority, created_at, digest_key";

impl Db {
    /// Records `event` unless its idempotency key is taken; returns the event
    /// holding the key and whether it is the one given.
    pub async fn insert_notify_event(
        &self,
        event: &NotifyEvent,
    ) -> Result<(NotifyEvent, bool), DbError> {
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_events (id, idempotency_key, type, actor, data, audience, priority, created_at, \
             digest_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.idempotency_key)
        .bind(&event.event_type)
        .bind(&event.actor)
        .bind(&event.data)
        .bind(&event.audience)
        .bind(i32::from(event.priority))
        .bind(event.created_at)
        .bind(&event.digest_key)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        let row: EventRow = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM notify_events WHERE idempotency_key = $1"
        )))
        .bind(&event.idempotency_key)
        .fetch_one(pool)
        .await)?;
        Ok((event_from(row), inserted == 1))
    }

    /// One event.
    pub async fn notify_event(&self, id: &str) -> Result<Option<NotifyEvent>, DbError> {
        let row: Option<EventRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM notify_events WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(event_from))
    }

    /// Writes inbox rows; rows already present for (event, user) are skipped.
    /// Returns how many were new.
    pub async fn insert_inbox(&self, items: &[NewInboxItem]) -> Result<u64, DbError> {
        let now = now_ms();
        let mut written = 0;
        for chunk in items.chunks(BATCH) {
            written += on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO notify_inbox (event_id, user_id, type, title, body, data, created_at) ",
                );
                q.push_values(chunk, |mut b, i| {
                    b.push_bind(&i.event_id)
                        .push_bind(&i.user_id)
                        .push_bind(&i.event_type)
                        .push_bind(&i.title)
                        .push_bind(&i.body)
                        .push_bind(&i.data)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (event_id, user_id) DO NOTHING");
                q.build().execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(written)
    }

    /// A user's inbox, newest first, with ids below `before`.
    pub async fn inbox(
        &self,
        user_id: &str,
        before: Option<i64>,
        limit: i64,
        unread_only: bool,
    ) -> Result<Vec<InboxItem>, DbError> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            String,
            i64,
            Option<i64>,
        );
        let sql = if unread_only {
            "SELECT id, event_id, type, title, body, data, created_at, read_at FROM notify_inbox \
             WHERE user_id = $1 AND id < $2 AND read_at IS NULL ORDER BY id DESC LIMIT $3"
        } else {
            "SELECT id, event_id, type, title, body, data, created_at, read_at FROM notify_inbox \
             WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        };
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(user_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, event_id, event_type, title, body, data, created_at, read_at)| InboxItem {
                    id,
                    event_id,
                    event_type,
                    title,
                    body,
                    data,
                    created_at,
                    read_at,
                },
            )
            .collect())
    }

    /// How many of a user's inbox rows are unread.
    pub async fn unread_count(&self, user_id: &str) -> Result<i64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM notify_inbox WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .fetch_one(pool)
        .await)?)
    }

    /// Marks one row read; false when the user has no such row.
    pub async fn mark_read(&self, user_id: &str, id: i64) -> Result<bool, DbError> {
        let found: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "UPDATE notify_inbox SET read_at = COALESCE(read_at, $3) WHERE user_id = $1 AND id = $2 RETURNING id",
        )
        .bind(user_id)
        .bind(id)
        .bind(now_ms())
        .fetch_optional(pool)
        .await)?;
        Ok(found.is_some())
    }

    /// Marks every unread row of a user read; returns how many.
    pub async fn mark_all_read(&self, user_id: &str) -> Result<u64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query(
            "UPDATE notify_inbox SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Records deliveries; one already recorded for (event, channel, recipient) is kept as is.
    pub async fn insert_deliveries(&self, deliveries: &[NewDelivery]) -> Result<(), DbError> {
        let now = now_ms();
        for chunk in deliveries.chunks(BATCH) {
            on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO notify_deliveries (event_id, channel, recipient, state, reason, attempts, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, d| {
                    b.push_bind(&d.event_id)
                        .push_bind(d.channel.as_str())
                        .push_bind(&d.recipient)
                        .push_bind(d.state.as_str())
                        .push_bind(&d.reason)
                        .push_bind(0i32)
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (event_id, channel, recipient) DO NOTHING");
                q.build().execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// The state of one delivery and its attempts so far.
    pub async fn delivery(
        &self,
        event_id: &str,
        channel: Channel,
        recipient: &str,
    ) -> Result<Option<(String, i32)>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as(
            "SELECT state, attempts FROM notify_deliveries WHERE event_id = $1 AND channel = $2 AND recipient = $3",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .bind(recipient)
        .fetch_optional(pool)
        .await)?)
    }

    /// Sets a delivery's state after an attempt (creating it if needed) and counts the attempt.
    pub async fn set_delivery(
        &self,
        event_id: &str,
        channel: Channel,
        recipient: &str,
        state: DeliveryState,
        reason: Option<&str>,
    ) -> Result<(), DbError> {
        let now = now_ms();
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_deliveries (event_id, channel, recipient, state, reason, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6) ON CONFLICT (event_id, channel, recipient) DO UPDATE SET \
             state = excluded.state, reason = excluded.reason, attempts = notify_deliveries.attempts + 1, \
             updated_at = excluded.updated_at",
        )
        .bind(event_id)
        .bind(channel.as_str())
        .bind(recipient)
        .bind(state.as_str())
        .bind(reason)
        .bind(now)
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// Counts of an event's deliveries per channel, state and reason; inbox
    /// rows written count as `inbox`/`sent`.
    pub async fn delivery_counts(&self, event_id: &str) -> Result<Vec<DeliveryCount>, DbError> {
        let rows: Vec<(String, String, Option<String>, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT channel, state, reason, COUNT(*) FROM notify_deliveries WHERE event_id = $1 \
             GROUP BY channel, state, reason ORDER BY channel, state, reason",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await)?;
        let inbox: i64 = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM notify_inbox WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_one(pool)
        .await)?;
        let mut out: Vec<DeliveryCount> = rows
            .into_iter()
            .map(|(channel, state, reason, count)| DeliveryCount {
                channel,
                state,
                reason,
                count,
            })
            .collect();
        if inbox > 0 {
            out.push(DeliveryCount {
                channel: Channel::Inbox.as_str().to_owned(),
                state: DeliveryState::Sent.as_str().to_owned(),
                reason: None,
                count: inbox,
            });
        }
        Ok(out)
    }

    /// Promotional notifications each user got on their local day (`(user, day)`
    /// pairs, days as `YYYY-MM-DD`), not counting `event_id` itself.
    pub async fn cap_counts(
        &self,
        user_days: &[(String, String)],
        event_id: &str,
    ) -> Result<HashMap<String, i64>, DbError> {
        let wanted: HashMap<&str, &str> = user_days
            .iter()
            .map(|(u, d)| (u.as_str(), d.as_str()))
            .collect();
        let mut out = HashMap::new();
        for chunk in user_days.chunks(BATCH * 5) {
            let Some(min_day) = chunk.iter().map(|(_, d)| d.as_str()).min() else {
                continue;
            };
            let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT user_id, day, COUNT(*) FROM notify_cap_hits WHERE day >= ",
                );
                q.push_bind(min_day);
                q.push(" AND event_id <> ");
                q.push_bind(event_id);
                q.push(" AND user_id IN (");
                let mut list = q.separated(", ");
                for (user, _) in chunk {
                    list.push_bind(user);
                }
                q.push(") GROUP BY user_id, day");
                q.build_query_as().fetch_all(pool).await
            })?;
            for (user, day, count) in rows {
                if wanted.get(user.as_str()) == Some(&day.as_str()) {
                    out.insert(user, count);
                }
            }
        }
        Ok(out)
    }

    /// Counts an event against each user's cap for the day (`(user, day)`).
    pub async fn insert_cap_hits(
        &self,
        user_days: &[(String, String)],
        event_id: &str,
    ) -> Result<(), DbError> {
        for chunk in user_days.chunks(BATCH) {
            on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("INSERT INTO notify_cap_hits (user_id, day, event_id) ");
                q.push_values(chunk, |mut b, (user, day)| {
                    b.push_bind(user).push_bind(day).push_bind(event_id);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Adds events to users' digests: (user, digest key, window start, event).
    pub async fn insert_digest_items(
        &self,
        items: &[(String, String, i64, String)],
    ) -> Result<(), DbError> {
        let now = now_ms();
        for chunk in items.chunks(BATCH) {
            on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO notify_digest_items (user_id, digest_key, window_start, event_id, created_at) ",
                );
                q.push_values(chunk, |mut b, (user, key, window, event)| {
                    b.push_bind(user).push_bind(key).push_bind(*window).push_bind(event).push_bind(now);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// The events in one user's digest window, oldest first.
    pub async fn digest_events(
        &self,
        user_id: &str,
        digest_key: &str,
        window_start: i64,
    ) -> Result<Vec<NotifyEvent>, DbError> {
        let rows: Vec<EventRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM notify_events WHERE id IN (SELECT event_id FROM notify_digest_items \
             WHERE user_id = $1 AND digest_key = $2 AND window_start = $3) ORDER BY created_at, id"
        )))
        .bind(user_id)
        .bind(digest_key)
        .bind(window_start)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(event_from).collect())
    }
}
