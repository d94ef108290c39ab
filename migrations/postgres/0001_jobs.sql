-- Every job Fleet runs: its status, attempts, progress and last error.
CREATE TABLE jobs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    queue           TEXT NOT NULL,
    status          TEXT NOT NULL,
    payload         TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    seller_id       TEXT,
    priority        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    max_attempts    INTEGER NOT NULL,
    progress_done   BIGINT,
    progress_total  BIGINT,
    last_error      TEXT,
    run_at          BIGINT NOT NULL,
    lease_until     BIGINT,
    worker_id       TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT
);
-- With PostgreSQL, queues live in Redis: the table needs no fetch indexes,
-- and every index it lacks makes the two status updates per job cheaper.
CREATE INDEX jobs_dead ON jobs (queue, id) WHERE status = 'dead';

-- Monotonic per-queue counters of finished attempts.
CREATE TABLE queue_counters (
    queue     TEXT PRIMARY KEY,
    processed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0
);
