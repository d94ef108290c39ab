-- Marketplace exports: sellers' connections to Shopify, Etsy and Amazon,
-- export runs split into chunks, each listing's outcome, and the remote id
-- of every listing a marketplace accepted.

-- One connection per seller and marketplace. `credentials` is sealed
-- (AES-256-GCM under a key id, bound to seller and marketplace); `settings`
-- holds the non-secret fields (shop domain, shop id, marketplace ids) as JSON.
CREATE TABLE export_connections (
    seller_id      TEXT NOT NULL,
    marketplace    TEXT NOT NULL,
    credentials    TEXT NOT NULL,
    settings       TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_message TEXT,
    tested_at      BIGINT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (seller_id, marketplace)
);

-- An export run: `selection` is the JSON the seller posted; `files` the blob
-- keys a file-mode run wrote (JSON array).
CREATE TABLE export_runs (
    id           TEXT PRIMARY KEY,
    seller_id    TEXT NOT NULL,
    marketplace  TEXT NOT NULL,
    mode         TEXT NOT NULL,
    format       TEXT,
    dry_run      BOOLEAN NOT NULL,
    selection    TEXT NOT NULL,
    status       TEXT NOT NULL,
    error        TEXT,
    chunks       BIGINT NOT NULL,
    pass         BIGINT NOT NULL,
    files        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    finished_at  BIGINT
);

CREATE INDEX export_runs_seller ON export_runs (seller_id, id);

-- One row per listing of a run; `chunk` is the chunk job that exports it.
CREATE TABLE export_items (
    run_id      TEXT NOT NULL,
    listing_id  TEXT NOT NULL,
    sku         TEXT,
    chunk       BIGINT NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT,
    remote_id   TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, listing_id)
);

CREATE INDEX export_items_chunk ON export_items (run_id, chunk, status);
CREATE INDEX export_items_status ON export_items (run_id, status, listing_id);

-- What each marketplace holds of a listing: its remote id, the handle it was
-- created under (to find it again after a crash), and a hash of what was sent
-- so an unchanged listing is skipped.
CREATE TABLE export_remote_ids (
    seller_id     TEXT NOT NULL,
    marketplace   TEXT NOT NULL,
    listing_id    TEXT NOT NULL,
    remote_id     TEXT NOT NULL,
    handle        TEXT,
    content_hash  TEXT NOT NULL,
    exported_at   BIGINT NOT NULL,
    PRIMARY KEY (seller_id, marketplace, listing_id)
);
