//! Notification recipients: users, push subscriptions, the follow graph,
//! likes, preferences and webhook endpoints. Writes are batch upserts.

use super::{Db, DbError, now_ms, on_pool};
use crate::notify::{Category, Channel};
use std::collections::HashMap;

/// Most rows written by one statement.
pub(crate) const BATCH: usize = 1_000;

/// A notification recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyUser {
    /// The marketplace's user id.
    pub id: String,
    /// Address for email; none means no email.
    pub email: Option<String>,
    /// BCP 47 language tag (`fr`, `pt-BR`).
    pub locale: String,
    /// IANA time zone (`Europe/Paris`).
    pub time_zone: String,
    /// Quiet hours as minutes after local midnight (start, end); the window may wrap midnight.
    pub quiet_hours: Option<(i32, i32)>,
}

/// A Web Push subscription as the browser's `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// Stable id (hash of the endpoint).
    pub id: String,
    /// Its user.
    pub user_id: String,
    /// The push service URL.
    pub endpoint: String,
    /// The user agent's P-256 public key (base64url).
    pub p256dh: String,
    /// The authentication secret (base64url).
    pub auth: String,
}

/// One edge of the follow graph or one like: add or remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The user who follows or likes.
    pub user_id: String,
    /// The seller followed or the listing liked.
    pub target: String,
    /// False removes the edge.
    pub present: bool,
}

/// A user's choice for one category on one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    /// The category.
    pub category: Category,
    /// The channel.
    pub channel: Channel,
    /// Whether notifications of the category are delivered on the channel.
    pub enabled: bool,
}

/// A backend subscriber's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Id (`we_…`).
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// Free text.
    pub description: Option<String>,
    /// Event types delivered; empty means all.
    pub event_types: Vec<String>,
    /// The `whsec_…` secret, sealed.
    pub secret_sealed: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Start of the current run of failures (ms), if failing.
    pub failing_since: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
}

impl WebhookEndpoint {
    /// Whether this endpoint receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.status == "enabled"
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// Log row id.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event.
    pub event_id: String,
    /// The `webhook-id` header sent.
    pub message_id: String,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// HTTP status, if a response came.
    pub status_code: Option<i32>,
    /// What failed, if it did.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i64,
    /// When (ms).
    pub created_at: i64,
}

type EndpointRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    i64,
);

fn endpoint_from(row: EndpointRow) -> Result<WebhookEndpoint, DbError> {
    let (id, url, description, types, secret_sealed, status, disabled_reason, failing_since, at) =
        row;
    let event_types = serde_json::from_str(&types).map_err(|e| DbError::Corrupt {
        table: "notify_webhook_endpoints",
        message: format!("event_types: {e}"),
    })?;
    Ok(WebhookEndpoint {
        id,
        url,
        description,
        event_types,
        secret_sealed,
        status,
        disabled_reason,
        failing_since,
        created_at: at,
    })
}

type UserRow = (
    String,
    Option<String>,
    String,
    String,
    Option<i32>,
    Option<i32>,
);

const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, secret_sealed, status, disabled_reason, failing_since, created_at";

impl Db {
    /// Creates or replaces users (all fields); returns how many were written.
    pub async fn upsert_notify_users(&self, users: &[NotifyUser]) -> Result<u64, DbError> {
        let now = now_ms();
        let mut written = 0;
        for chunk in users.chunks(BATCH) {
            written += on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO notify_users (id, email, locale, time_zone, quiet_start, quiet_end, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, u| {
                    b.push_bind(&u.id)
                        .push_bind(&u.email)
                        .push_bind(&u.locale)
                        .push_bind(&u.time_zone)
                        .push_bind(u.quiet_hours.map(|q| q.0))
                        .push_bind(u.quiet_hours.map(|q| q.1))
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(
                    " ON CONFLICT (id) DO UPDATE SET email = excluded.email, locale = excluded.locale, \
                     time_zone = excluded.time_zone, quiet_start = excluded.quiet_start, \
                     quiet_end = excluded.quiet_end, updated_at = excluded.updated_at",
                );
                q.build().execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(written)
    }

    /// The rows `select` (a query ending in `… IN (`) returns for all of `ids`,
    /// read a few thousand ids per statement.
    async fn rows_for_ids<T>(&self, select: &str, ids: &[String]) -> Result<Vec<T>, DbError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + Send
            + Unpin,
    {
        let mut out = Vec::new();
        for chunk in ids.chunks(BATCH * 5) {
            let rows: Vec<T> = on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(select);
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(id);
                }
                q.push(")");
                q.build_query_as().fetch_all(pool).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The users among `ids` that exist, by id.
    pub async fn notify_users(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, NotifyUser>, DbError> {
        let rows: Vec<UserRow> = self
            .rows_for_ids(
                "SELECT id, email, locale, time_zone, quiet_start, quiet_end FROM notify_users WHERE id IN (",
                ids,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, email, locale, time_zone, qs, qe)| {
                let user = NotifyUser {
                    id: id.clone(),
                    email,
                    locale,
                    time_zone,
                    quiet_hours: qs.zip(qe),
                };
                (id, user)
            })
            .collect())
    }

    /// Whether the user exists.
    pub async fn notify_user(&self, id: &str) -> Result<Option<NotifyUser>, DbError> {
        Ok(self.notify_users(&[id.to_owned()]).await?.remove(id))
    }

    /// Adds or replaces a push subscription (keyed by endpoint).
    pub async fn upsert_push_subscription(&self, sub: &PushSubscription) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (endpoint) DO UPDATE SET \
             user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth",
        )
        .bind(&sub.id)
        .bind(&sub.user_id)
        .bind(&sub.endpoint)
        .bind(&sub.p256dh)
        .bind(&sub.auth)
        .bind(now_ms())
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// The push subscriptions of `user_id`.
    pub async fn push_subscriptions(
        &self,
        user_id: &str,
    ) -> Result<Vec<PushSubscription>, DbError> {
        let rows: Vec<(String, String, String, String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, endpoint, p256dh, auth FROM notify_push_subscriptions WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, user_id, endpoint, p256dh, auth)| PushSubscription {
                id,
                user_id,
                endpoint,
                p256dh,
                auth,
            })
            .collect())
    }

    /// Removes a push subscription the push service said is gone.
    pub async fn delete_push_subscription(&self, id: &str) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM notify_push_subscriptions WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await.map(|_| ()))?;
        Ok(())
    }

    /// Which of `user_id`'s subscriptions the push service already accepted `event_id` for.
    pub async fn pushed_subscriptions(
        &self,
        event_id: &str,
        user_id: &str,
    ) -> Result<std::collections::HashSet<String>, DbError> {
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT subscription_id FROM notify_push_sends WHERE event_id = $1 AND subscription_id IN \
             (SELECT id FROM notify_push_subscriptions WHERE user_id = $2)",
        )
        .bind(event_id)
        .bind(user_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Records that the push service accepted `event_id` for a subscription.
    pub async fn record_push_send(
        &self,
        event_id: &str,
        subscription_id: &str,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_push_sends (event_id, subscription_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(event_id)
        .bind(subscription_id)
        .bind(now_ms())
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// Which of `user_ids` have at least one push subscription.
    pub async fn users_with_push(
        &self,
        user_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, DbError> {
        let rows: Vec<(String,)> = self
            .rows_for_ids(
                "SELECT DISTINCT user_id FROM notify_push_subscriptions WHERE user_id IN (",
                user_ids,
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Adds and removes follows (`target` = seller id) or likes (`target` = listing id).
    pub async fn apply_edges(&self, likes: bool, edges: &[Edge]) -> Result<(), DbError> {
        let (table, column) = if likes {
            ("notify_likes", "listing_id")
        } else {
            ("notify_follows", "seller_id")
        };
        let now = now_ms();
        let added: Vec<&Edge> = edges.iter().filter(|e| e.present).collect();
        let removed: Vec<&Edge> = edges.iter().filter(|e| !e.present).collect();
        for chunk in added.chunks(BATCH) {
            on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new(format!(
                    "INSERT INTO {table} ({column}, user_id, created_at) "
                ));
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(&e.target).push_bind(&e.user_id).push_bind(now);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(pool).await.map(|_| ())
            })?;
        }
        for e in removed {
            on_pool!(self, pool => sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {column} = $1 AND user_id = $2"
            )))
            .bind(&e.target)
            .bind(&e.user_id)
            .execute(pool)
            .await.map(|_| ()))?;
        }
        Ok(())
    }

    /// Up to `limit` followers of a seller (`likes` false) or likers of a
    /// listing (`likes` true) with user ids after `after`, in id order.
    pub async fn audience_page(
        &self,
        likes: bool,
        target: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<String>, DbError> {
        let sql = if likes {
            "SELECT user_id FROM notify_likes WHERE listing_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3"
        } else {
            "SELECT user_id FROM notify_follows WHERE seller_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3"
        };
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(target)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The stored preferences of `user_id` (only those set).
    pub async fn preferences(&self, user_id: &str) -> Result<Vec<Preference>, DbError> {
        Ok(self
            .preferences_of(&[user_id.to_owned()])
            .await?
            .remove(user_id)
            .unwrap_or_default())
    }

    /// The stored preferences of each of `user_ids` that has any.
    pub async fn preferences_of(
        &self,
        user_ids: &[String],
    ) -> Result<HashMap<String, Vec<Preference>>, DbError> {
        let rows: Vec<(String, String, String, i32)> = self
            .rows_for_ids(
                "SELECT user_id, category, channel, enabled FROM notify_preferences WHERE user_id IN (",
                user_ids,
            )
            .await?;
        let corrupt = |e: crate::notify::UnknownName| DbError::Corrupt {
            table: "notify_preferences",
            message: e.to_string(),
        };
        let mut out: HashMap<String, Vec<Preference>> = HashMap::new();
        for (user, category, channel, enabled) in rows {
            out.entry(user).or_default().push(Preference {
                category: category.parse().map_err(corrupt)?,
                channel: channel.parse().map_err(corrupt)?,
                enabled: enabled != 0,
            });
        }
        Ok(out)
    }

    /// Sets preferences of `user_id` (others are kept).
    pub async fn set_preferences(
        &self,
        user_id: &str,
        prefs: &[Preference],
    ) -> Result<(), DbError> {
        if prefs.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO notify_preferences (user_id, category, channel, enabled, updated_at) ",
            );
            q.push_values(prefs, |mut b, p| {
                b.push_bind(user_id)
                    .push_bind(p.category.as_str())
                    .push_bind(p.channel.as_str())
                    .push_bind(i32::from(p.enabled))
                    .push_bind(now);
            });
            q.push(
                " ON CONFLICT (user_id, category, channel) DO UPDATE SET enabled = excluded.enabled, \
                 updated_at = excluded.updated_at",
            );
            q.build().execute(pool).await.map(|_| ())
        })?;
        Ok(())
    }

    /// Records a new webhook endpoint.
    pub async fn insert_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<(), DbError> {
        let types = serde_json::to_string(&e.event_types).unwrap_or_else(|_| "[]".to_owned());
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_webhook_endpoints (id, url, description, event_types, secret_sealed, status, \
             disabled_reason, failing_since, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        )
        .bind(&e.id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&types)
        .bind(&e.secret_sealed)
        .bind(&e.status)
        .bind(&e.disabled_reason)
        .bind(e.failing_since)
        .bind(e.created_at)
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// Every webhook endpoint, oldest first.
    pub async fn webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, DbError> {
        let rows: Vec<EndpointRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM notify_webhook_endpoints ORDER BY created_at, id"
        )))
        .fetch_all(pool)
        .await)?;
        rows.into_iter().map(endpoint_from).collect()
    }

    /// One webhook endpoint.
    pub async fn webhook_endpoint(&self, id: &str) -> Result<Option<WebhookEndpoint>, DbError> {
        let row: Option<EndpointRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM notify_webhook_endpoints WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await)?;
        row.map(endpoint_from).transpose()
    }

    /// Writes an endpoint's url, description, event types and status; enabling
    /// it clears the disabled reason and the failure run.
    pub async fn update_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<(), DbError> {
        let types = serde_json::to_string(&e.event_types).unwrap_or_else(|_| "[]".to_owned());
        on_pool!(self, pool => sqlx::query(
            "UPDATE notify_webhook_endpoints SET url = $2, description = $3, event_types = $4, status = $5, \
             disabled_reason = CASE WHEN $5 = 'enabled' THEN NULL ELSE disabled_reason END, \
             failing_since = CASE WHEN $5 = 'enabled' THEN NULL ELSE failing_since END, updated_at = $6 \
             WHERE id = $1",
        )
        .bind(&e.id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&types)
        .bind(&e.status)
        .bind(now_ms())
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// Deletes an endpoint and its delivery log; false when it did not exist.
    pub async fn delete_webhook_endpoint(&self, id: &str) -> Result<bool, DbError> {
        let deleted = on_pool!(self, pool => async {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM notify_webhook_log WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM notify_webhook_endpoints WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(done.rows_affected())
        }.await)?;
        Ok(deleted > 0)
    }

    /// Records a webhook attempt's result on its endpoint: success clears the
    /// failure run; a failure starts one (if none) and, when it has lasted
    /// `disable_after_ms`, disables the endpoint. Returns the endpoint after.
    pub async fn record_webhook_result(
        &self,
        endpoint_id: &str,
        ok: bool,
        disable_after_ms: i64,
    ) -> Result<Option<WebhookEndpoint>, DbError> {
        let now = now_ms();
        if ok {
            on_pool!(self, pool => sqlx::query(
                "UPDATE notify_webhook_endpoints SET failing_since = NULL, updated_at = $2 WHERE id = $1",
            )
            .bind(endpoint_id)
            .bind(now)
            .execute(pool)
            .await.map(|_| ()))?;
        } else {
            on_pool!(self, pool => sqlx::query(
                "UPDATE notify_webhook_endpoints SET failing_since = COALESCE(failing_since, $2), updated_at = $2 \
                 WHERE id = $1",
            )
            .bind(endpoint_id)
            .bind(now)
            .execute(pool)
            .await.map(|_| ()))?;
            on_pool!(self, pool => sqlx::query(
                "UPDATE notify_webhook_endpoints SET status = 'disabled', disabled_reason = $3, updated_at = $2 \
                 WHERE id = $1 AND status = 'enabled' AND failing_since IS NOT NULL AND failing_since <= $2 - $4",
            )
            .bind(endpoint_id)
            .bind(now)
            .bind(format!(
                "every delivery failed for {}s",
                disable_after_ms / 1_000
            ))
            .bind(disable_after_ms)
            .execute(pool)
            .await.map(|_| ()))?;
        }
        self.webhook_endpoint(endpoint_id).await
    }

    /// Appends one attempt to an endpoint's delivery log.
    pub async fn log_webhook_attempt(&self, a: &WebhookAttempt) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO notify_webhook_log (endpoint_id, event_id, message_id, attempt, status_code, error, \
             duration_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&a.endpoint_id)
        .bind(&a.event_id)
        .bind(&a.message_id)
        .bind(a.attempt)
        .bind(a.status_code)
        .bind(&a.error)
        .bind(a.duration_ms)
        .bind(a.created_at)
        .execute(pool)
        .await.map(|_| ()))?;
        Ok(())
    }

    /// An endpoint's delivery log, newest first, before the cursor id.
    pub async fn webhook_log(
        &self,
        endpoint_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>, DbError> {
        type Row = (
            i64,
            String,
            String,
            String,
            i32,
            Option<i32>,
            Option<String>,
            i64,
            i64,
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, endpoint_id, event_id, message_id, attempt, status_code, error, duration_ms, created_at \
             FROM notify_webhook_log WHERE endpoint_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(endpoint_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    endpoint_id,
                    event_id,
                    message_id,
                    attempt,
                    status_code,
                    error,
                    duration_ms,
                    created_at,
                )| {
                    WebhookAttempt {
                        id,
                        endpoint_id,
                        event_id,
                        message_id,
                        attempt,
                        status_code,
                        error,
                        duration_ms,
                        created_at,
                    }
                },
            )
            .collect())
    }
}
