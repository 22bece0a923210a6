-- Stock per sku. available = on_hand - reserved, and it never goes below zero.
CREATE TABLE stock_levels (
    sku TEXT PRIMARY KEY,
    on_hand BIGINT NOT NULL CHECK (on_hand >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at TEXT NOT NULL,
    CHECK (reserved <= on_hand)
);

-- Every back-office adjustment, keyed by the caller's idempotency key so a
-- retried request applies once.
CREATE TABLE stock_adjustments (
    idempotency_key TEXT PRIMARY KEY,
    sku TEXT NOT NULL,
    delta BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    created_at TEXT NOT NULL
);
