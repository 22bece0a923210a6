-- What a storefront renders and filters by: a category tree, images,
-- option axes, prices and dates to sort by, terms to search, and a read
-- model of availability fed by inventory's StockLevelChanged.

-- A category's products include its sub-categories'.
ALTER TABLE categories ADD COLUMN parent_slug TEXT REFERENCES categories (slug);
CREATE INDEX categories_by_parent ON categories (parent_slug);

-- The search analyzer's stems (products::search), indexed per backend
-- (migrations/products-postgres, migrations/products-sqlite).
ALTER TABLE products DROP COLUMN search_text;
ALTER TABLE products ADD COLUMN name_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN description_terms TEXT NOT NULL DEFAULT '';
-- The cheapest variant's price, kept with every price change: the price sort
-- and the price buckets read it.
ALTER TABLE products ADD COLUMN min_price_minor BIGINT NOT NULL DEFAULT 0;
UPDATE products SET min_price_minor = (SELECT MIN(price_minor) FROM variants WHERE variants.product_id = products.id);
CREATE INDEX products_by_name ON products (name, slug);
CREATE INDEX products_by_price ON products (min_price_minor, slug);
CREATE INDEX products_by_created ON products (created_at, slug);

-- Images in display order; the first is the product's featured image. A
-- variant's own image names its sku. `path` is relative to MEDIA_BASE_URL.
CREATE TABLE product_images (
    product_id TEXT NOT NULL REFERENCES products (id),
    position BIGINT NOT NULL,
    path TEXT NOT NULL,
    alt_text TEXT NOT NULL,
    width BIGINT NOT NULL CHECK (width > 0),
    height BIGINT NOT NULL CHECK (height > 0),
    variant_sku TEXT REFERENCES variants (sku),
    PRIMARY KEY (product_id, position)
);

-- Each variant's value on each of its product's option axes (Size: M).
CREATE TABLE variant_options (
    sku TEXT NOT NULL REFERENCES variants (sku),
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (sku, position)
);
CREATE INDEX variant_options_by_value ON variant_options (name, value, sku);

-- Inventory's available count per sku, as its StockLevelChanged events
-- carry it; the newest version wins.
CREATE TABLE stock_availability (
    sku TEXT PRIMARY KEY,
    available BIGINT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL
);
