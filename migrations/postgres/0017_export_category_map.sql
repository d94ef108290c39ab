-- Sellers' own category map per marketplace: a Fleet category (the short id
-- of a Shopify taxonomy category, `aa-1-13`) and everything under it maps to
-- `target`, an Etsy seller-taxonomy id or an Amazon product type. Export
-- takes the listing's own attribute first, then the override of the
-- longest prefix of its category, then Fleet's shipped default.
CREATE TABLE export_category_overrides (
    seller_id   TEXT NOT NULL,
    marketplace TEXT NOT NULL,
    category    TEXT NOT NULL,
    target      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (seller_id, marketplace, category)
);

-- What a succeeded item left out, in plain words (an Amazon marketplace whose
-- currency differs from the listing's).
ALTER TABLE export_items ADD COLUMN warning TEXT;
