-- The catalog: categories, products and their variants (each with its own price).
CREATE TABLE categories (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE products (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    category_slug TEXT NOT NULL REFERENCES categories (slug),
    -- lower-cased name and description: what the storefront's text search matches
    search_text TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX products_by_category ON products (category_slug, slug);

CREATE TABLE variants (
    sku TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES products (id),
    name TEXT NOT NULL,
    price_minor BIGINT NOT NULL CHECK (price_minor > 0),
    currency TEXT NOT NULL,
    position BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX variants_by_product ON variants (product_id, position);
