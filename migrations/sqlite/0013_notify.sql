-- Notifications: recipients (users, their push subscriptions, who follows
-- which seller and likes which listing), preferences, webhook endpoints,
-- events with their fan-out state, the in-app inbox, and per-recipient
-- delivery states. Times are milliseconds since the Unix epoch.

CREATE TABLE notify_users (
    id          TEXT PRIMARY KEY,
    email       TEXT,
    locale      TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    -- Quiet hours in the user's time zone, minutes after local midnight; both or neither.
    quiet_start INTEGER,
    quiet_end   INTEGER,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE notify_push_subscriptions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES notify_users (id) ON DELETE CASCADE,
    endpoint   TEXT NOT NULL UNIQUE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notify_push_subscriptions_user ON notify_push_subscriptions (user_id);

-- The follow graph and likes; fan-out reads them in keyset order of user_id.
CREATE TABLE notify_follows (
    seller_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (seller_id, user_id)
);
CREATE TABLE notify_likes (
    listing_id TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (listing_id, user_id)
);

-- Opt-outs and opt-ins per user x category x channel; absent means the default (on).
CREATE TABLE notify_preferences (
    user_id    TEXT NOT NULL,
    category   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, category, channel)
);

-- Backend subscribers; the whsec_ secret is sealed (AES-256-GCM) with a key
-- derived from the installation secret.
CREATE TABLE notify_webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    secret_sealed   TEXT NOT NULL,
    status          TEXT NOT NULL,
    disabled_reason TEXT,
    failing_since   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE notify_events (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    type            TEXT NOT NULL,
    actor           TEXT,
    data            TEXT NOT NULL,
    audience        TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    created_at      BIGINT NOT NULL
);

-- One row per (event, user): a redone fan-out chunk inserts nothing twice.
CREATE TABLE notify_inbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at    BIGINT,
    UNIQUE (event_id, user_id)
);
CREATE INDEX notify_inbox_user ON notify_inbox (user_id, id);
CREATE INDEX notify_inbox_unread ON notify_inbox (user_id) WHERE read_at IS NULL;

-- State per event x channel x recipient (a user, or a webhook endpoint):
-- queued, sent, failed or suppressed (with the reason). Inbox rows that were
-- written are counted from notify_inbox; suppressed inbox deliveries are here.
CREATE TABLE notify_deliveries (
    event_id   TEXT NOT NULL,
    channel    TEXT NOT NULL,
    recipient  TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, channel, recipient)
);

-- Promotional notifications counted against a user's daily cap, per local day.
CREATE TABLE notify_cap_hits (
    user_id  TEXT NOT NULL,
    day      TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (user_id, day, event_id)
);

-- Every webhook delivery attempt, per endpoint.
CREATE TABLE notify_webhook_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX notify_webhook_log_endpoint ON notify_webhook_log (endpoint_id, id);
