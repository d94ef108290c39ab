-- The double-entry ledger: accounts, transfers and their postings, and the
-- order events that caused them. Transfers and postings are append-only
-- (triggers refuse UPDATE and DELETE); corrections are new transfers.
-- Amounts are integer minor units; a posting's amount is signed: positive
-- credits the account, negative debits it. Every transfer sums to zero.

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
    id          BIGSERIAL PRIMARY KEY,
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

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_postings_append_only BEFORE UPDATE OR DELETE ON ledger_postings
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();

-- At commit, every transfer that received postings must sum to zero.
CREATE FUNCTION ledger_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total BIGINT;
BEGIN
    SELECT COALESCE(SUM(amount), 0) INTO total FROM ledger_postings WHERE transfer_id = NEW.transfer_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'transfer % is unbalanced: postings sum to %', NEW.transfer_id, total;
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_postings_balanced AFTER INSERT ON ledger_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_transfer_balanced();
