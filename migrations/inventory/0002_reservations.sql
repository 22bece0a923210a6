-- Stock held for orders. RESERVED counts in stock_levels.reserved; COMMITTED
-- has left on_hand (sold); RELEASED and EXPIRED gave it back; RESTORED put a
-- cancelled sale back on the shelf; REJECTED reserved nothing.
CREATE TABLE reservations (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reservations_expiring ON reservations (status, expires_at);

CREATE TABLE reservation_lines (
    order_id TEXT NOT NULL REFERENCES reservations (order_id),
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
