-- Web Push messages the push service accepted, per event and subscription:
-- a retried push job (another subscription of the user failed) or a redone
-- fan-out sends nothing twice to a subscription that already has it.
CREATE TABLE notify_push_sends (
    event_id        TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (event_id, subscription_id)
);
