-- Uploaded photos and videos: who owns them, where the source is, and what the media worker made of it.
CREATE TABLE media (
    id            TEXT PRIMARY KEY,
    seller_id     TEXT,
    user_id       TEXT,
    purpose       TEXT NOT NULL,
    status        TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    filename      TEXT,
    source_key    TEXT NOT NULL,
    source_sha256 TEXT,
    job_id        TEXT,
    format        TEXT,
    width         INTEGER,
    height        INTEGER,
    variants      TEXT,
    blurhash      TEXT,
    thumbhash     TEXT,
    error         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX media_sha ON media (source_sha256);
