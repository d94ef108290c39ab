-- The Shopify Standard Product Taxonomy (loaded from the copy shipped in the binary) and what the
-- categorize worker found: results cached by a hash of the text, and suggestions per listing.
CREATE TABLE taxonomy_categories (
    id           TEXT PRIMARY KEY,
    gid          TEXT NOT NULL UNIQUE,
    parent_id    TEXT,
    name         TEXT NOT NULL,
    full_path    TEXT NOT NULL,
    path_lower   TEXT NOT NULL,
    depth        INTEGER NOT NULL,
    child_count  INTEGER NOT NULL
);

CREATE INDEX taxonomy_categories_parent ON taxonomy_categories (parent_id, full_path);
CREATE INDEX taxonomy_categories_path ON taxonomy_categories (full_path, id);

-- Which taxonomy version the table holds; loading is skipped when it matches.
CREATE TABLE taxonomy_versions (
    version    TEXT PRIMARY KEY,
    categories INTEGER NOT NULL,
    loaded_at  BIGINT NOT NULL
);

-- Categorization results by a hash of provider, text and image ids: unchanged listings are not recomputed.
CREATE TABLE categorize_results (
    key         TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The latest suggestions for each listing, and the category applied from them, if any.
CREATE TABLE categorize_suggestions (
    listing_id   TEXT PRIMARY KEY,
    text_key     TEXT NOT NULL,
    result       TEXT NOT NULL,
    applied_gid  TEXT,
    outcome      TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
