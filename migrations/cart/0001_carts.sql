-- Carts and their lines. A cart with a customer_id belongs to that customer;
-- one without is a guest cart, reachable by whoever holds its id.
CREATE TABLE carts (
    id TEXT PRIMARY KEY,
    customer_id TEXT,
    -- OPEN, or ORDERED once checkout has taken it
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX carts_by_customer ON carts (customer_id);

CREATE TABLE cart_lines (
    id TEXT PRIMARY KEY,
    cart_id TEXT NOT NULL REFERENCES carts (id),
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity BETWEEN 1 AND 50),
    created_at TEXT NOT NULL,
    UNIQUE (cart_id, sku)
);
CREATE INDEX cart_lines_by_cart ON cart_lines (cart_id, id);
