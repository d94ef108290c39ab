-- Operations figures kept by the SQL queue backend (Redis keeps its own):
-- recent finished attempts for per-minute rates and duration percentiles,
-- and the heartbeats of running worker processes.
CREATE TABLE queue_samples (
    queue       TEXT NOT NULL,
    finished_at BIGINT NOT NULL,
    failed      INTEGER NOT NULL,
    duration_ms BIGINT
);
CREATE INDEX queue_samples_recent ON queue_samples (queue, finished_at);

CREATE TABLE worker_heartbeats (
    worker_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    seen_at   BIGINT NOT NULL,
    PRIMARY KEY (worker_id, kind)
);
