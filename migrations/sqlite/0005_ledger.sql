-- The double-entry ledger: accounts, transfers and their postings, and the
-- order events that caused them. Transfers and postings are append-only
-- (triggers refuse UPDATE and DELETE); corrections are new transfers.
-- Amounts are integer minor units; a posting's amount is signed: positive
-- credits the account, negative debits it. Every transfer sums to zero
-- (checked in the writing transaction: SQLite has no deferred triggers).

CREATE TABLE ledger_accounts (
    id         TEXT PRIMARY KEY,
    seller_id  TEXT,
    currency   TEXT NOT NULL CHECK (length(currency) = 3),
    bucket     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_accounts_seller ON ledger_accounts (seller_id, currency);

CREATE TABLE ledger_transfers (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    order_id   TEXT,
    event_id   TEXT,
    seller_id  TEXT,
    currency   TEXT NOT NULL CHECK (length(currency) = 3),
    created_at BIGINT NOT NULL
);

CREATE TABLE ledger_postings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_id TEXT NOT NULL REFERENCES ledger_transfers (id),
    account_id  TEXT NOT NULL REFERENCES ledger_accounts (id),
    seller_id   TEXT,
    currency    TEXT NOT NULL CHECK (length(currency) = 3),
    bucket      TEXT NOT NULL,
    amount      BIGINT NOT NULL CHECK (amount <> 0),
    created_at  BIGINT NOT NULL
);
CREATE INDEX ledger_postings_transfer ON ledger_postings (transfer_id);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id);
CREATE INDEX ledger_postings_seller ON ledger_postings (seller_id, id) WHERE seller_id IS NOT NULL;

-- Order events as accepted, in order per order (seq), with what they caused
-- and the order's state after them (JSON), so the next event reads one row.
-- `id` is `event:<event id>` for events posted to the API and
-- `release:<order id>` for the end of the hold period.
CREATE TABLE ledger_events (
    id            TEXT PRIMARY KEY,
    event_id      TEXT,
    order_id      TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    seller_id     TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    fee_requested BIGINT,
    fee           BIGINT,
    transfer_id   TEXT REFERENCES ledger_transfers (id),
    release_at    BIGINT,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (order_id, seq)
);

CREATE TRIGGER ledger_transfers_no_update BEFORE UPDATE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on ledger_transfers refused'); END;
CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on ledger_transfers refused'); END;
CREATE TRIGGER ledger_postings_no_update BEFORE UPDATE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on ledger_postings refused'); END;
CREATE TRIGGER ledger_postings_no_delete BEFORE DELETE ON ledger_postings
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on ledger_postings refused'); END;
CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE on ledger_events refused'); END;
CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE on ledger_events refused'); END;
