-- Marketplace exports: the sellers' catalogue (listings) and what is needed
-- to push it to Shopify, Etsy and Amazon.

-- One row per listing; the SKU is unique per seller. `category` is a Shopify
-- taxonomy gid set by the seller (`category_source` = seller) or by the
-- categorize worker (auto); its ranked suggestions are in categorize_suggestions.
CREATE TABLE listings (
    id                   TEXT PRIMARY KEY,
    seller_id            TEXT NOT NULL,
    sku                  TEXT NOT NULL,
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    price_minor          BIGINT,
    currency             TEXT,
    quantity             BIGINT NOT NULL,
    condition            TEXT NOT NULL,
    brand                TEXT,
    size                 TEXT,
    colour               TEXT,
    material             TEXT,
    category             TEXT,
    category_source      TEXT,
    images               TEXT NOT NULL,
    attributes           TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (seller_id, sku)
);

CREATE INDEX listings_seller ON listings (seller_id, id);
