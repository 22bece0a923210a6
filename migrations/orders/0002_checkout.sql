-- Checkout: what placeOrder needs to be idempotent and to claim a cart once.
ALTER TABLE orders ADD COLUMN payment_token TEXT;
ALTER TABLE orders ADD COLUMN correlation_id TEXT;
-- The placing request's trace context, carried into the events the payment worker emits.
ALTER TABLE orders ADD COLUMN traceparent TEXT;
-- Set when inventory has reserved the stock: the payment worker takes it from
-- there, holding a lease while it talks to the provider.
ALTER TABLE orders ADD COLUMN payment_requested_at TEXT;
ALTER TABLE orders ADD COLUMN payment_lease_until TEXT;

-- One order per customer and idempotency key, however often it is sent.
CREATE TABLE idempotency_keys (
    customer_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    cart_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (customer_id, idempotency_key)
);

-- The order that holds a cart; removed when that order is rejected, so the
-- cart can be ordered again.
CREATE TABLE cart_claims (
    cart_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL
);

-- The sandbox payment provider's ledger (payments.rs): one payment per order
-- id, its idempotency key, and every call made to it.
CREATE TABLE sandbox_payments (
    order_id TEXT PRIMARY KEY,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    authorization_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sandbox_payment_calls (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX sandbox_payment_calls_by_order ON sandbox_payment_calls (order_id);

-- Reviews learns which products a customer bought from OrderConfirmed.
ALTER TABLE order_lines ADD COLUMN product_id TEXT NOT NULL DEFAULT '';
