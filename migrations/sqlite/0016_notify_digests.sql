-- Events posted with a digest key: their emails to one user within one
-- window (notify.digest_window_secs, aligned to the epoch) go out as one email.
ALTER TABLE notify_events ADD COLUMN digest_key TEXT;

CREATE TABLE notify_digest_items (
    user_id      TEXT NOT NULL,
    digest_key   TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    event_id     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, digest_key, window_start, event_id)
);
