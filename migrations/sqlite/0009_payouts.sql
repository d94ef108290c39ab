-- Seller payouts: runs (scheduled or on demand), one payout per seller and
-- currency per run, the sellers' payout destinations (encrypted), SEPA
-- credit-transfer batches, and reconciliation reports. Money moves only in
-- the ledger (transfers `payout:<id>`, `payout_paid:<id>`,
-- `payout_returned:<id>`, `payout_reversed:<id>`); a payout's status is the
-- state machine that decides which of them to post.

CREATE TABLE payout_runs (
    id          TEXT PRIMARY KEY,
    trigger     TEXT NOT NULL,
    seller_id   TEXT,
    provider    TEXT NOT NULL,
    status      TEXT NOT NULL,
    payouts     BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX payout_runs_created ON payout_runs (created_at);

CREATE TABLE payouts (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES payout_runs (id),
    seller_id    TEXT NOT NULL,
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    provider     TEXT NOT NULL,
    status       TEXT NOT NULL,
    provider_ref TEXT,
    batch_id     TEXT,
    failure      TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (run_id, seller_id, currency)
);
CREATE INDEX payouts_seller ON payouts (seller_id, created_at);
CREATE INDEX payouts_status ON payouts (status, updated_at);
CREATE INDEX payouts_batch ON payouts (batch_id) WHERE batch_id IS NOT NULL;

-- Where a seller is paid: bank details (SEPA) and/or a Stripe connected
-- account, sealed with a key derived from the installation secret.
CREATE TABLE payout_accounts (
    seller_id   TEXT PRIMARY KEY,
    sealed      TEXT NOT NULL,
    iban_last4  TEXT,
    has_stripe  BOOLEAN NOT NULL,
    has_bank    BOOLEAN NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE sepa_batches (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE REFERENCES payout_runs (id),
    blob_key     TEXT NOT NULL,
    payouts      BIGINT NOT NULL,
    ctrl_sum     BIGINT NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    confirmed_at BIGINT
);

CREATE TABLE payout_reconciliations (
    id          TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    checked     BIGINT NOT NULL DEFAULT 0,
    mismatches  BIGINT NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE TABLE payout_mismatches (
    id                TEXT PRIMARY KEY,
    reconciliation_id TEXT NOT NULL REFERENCES payout_reconciliations (id),
    payout_id         TEXT,
    provider_ref      TEXT,
    kind              TEXT NOT NULL,
    message           TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX payout_mismatches_reconciliation ON payout_mismatches (reconciliation_id, id);
