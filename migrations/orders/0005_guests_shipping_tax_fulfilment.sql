-- Guest checkout: a guest's order has no customer ('' in customer_id) and is
-- read with one of its access tokens, kept here as SHA-256 hashes only. The
-- email is where a shop sends the receipt (a customer may give one too).
ALTER TABLE orders ADD COLUMN email TEXT;
CREATE TABLE order_access_tokens (
    token_hash TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    created_at TEXT NOT NULL
);

-- What the total is made of, fixed at placeOrder: total = subtotal + shipping
-- + tax, unless taxes_included (then the tax is part of subtotal and shipping).
ALTER TABLE orders ADD COLUMN subtotal_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN tax_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN taxes_included BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN shipping_method TEXT;
UPDATE orders SET subtotal_minor = total_minor;

-- Shipping methods and their rates, by destination country ('*' for every
-- country without a row of its own), currency and order value: the rate is
-- that of the highest min_subtotal_minor the subtotal reaches. A method with
-- no rate for a destination is not offered there.
CREATE TABLE shipping_methods (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    carrier TEXT NOT NULL,
    min_days BIGINT NOT NULL,
    max_days BIGINT NOT NULL
);
CREATE TABLE shipping_rates (
    method_code TEXT NOT NULL REFERENCES shipping_methods (code),
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    min_subtotal_minor BIGINT NOT NULL,
    rate_minor BIGINT NOT NULL CHECK (rate_minor >= 0),
    PRIMARY KEY (method_code, country, currency, min_subtotal_minor)
);
INSERT INTO shipping_methods (code, name, carrier, min_days, max_days) VALUES
    ('STANDARD', 'Standard', 'USPS', 3, 7),
    ('EXPRESS', 'Express', 'UPS', 1, 2),
    ('FREIGHT', 'Economy freight', 'DHL', 10, 20);
INSERT INTO shipping_rates (method_code, country, currency, min_subtotal_minor, rate_minor) VALUES
    ('STANDARD', 'US', 'USD', 0, 599),
    ('STANDARD', 'US', 'USD', 7500, 0),
    ('STANDARD', 'CA', 'USD', 0, 1499),
    ('STANDARD', 'GB', 'USD', 0, 1999),
    ('STANDARD', 'DE', 'USD', 0, 1999),
    ('STANDARD', 'FR', 'USD', 0, 1999),
    ('STANDARD', '*', 'USD', 0, 2999),
    ('EXPRESS', 'US', 'USD', 0, 1999),
    ('EXPRESS', 'CA', 'USD', 0, 3499),
    ('EXPRESS', 'GB', 'USD', 0, 4499),
    ('EXPRESS', 'DE', 'USD', 0, 4499),
    ('EXPRESS', 'FR', 'USD', 0, 4499),
    ('FREIGHT', '*', 'USD', 0, 1499),
    ('FREIGHT', '*', 'USD', 20000, 999),
    ('STANDARD', 'DE', 'EUR', 0, 499),
    ('STANDARD', 'DE', 'EUR', 5000, 0),
    ('STANDARD', 'FR', 'EUR', 0, 499),
    ('STANDARD', 'FR', 'EUR', 5000, 0),
    ('STANDARD', 'GB', 'EUR', 0, 1299),
    ('STANDARD', '*', 'EUR', 0, 2499),
    ('EXPRESS', 'DE', 'EUR', 0, 1499),
    ('EXPRESS', 'FR', 'EUR', 0, 1499),
    ('EXPRESS', '*', 'EUR', 0, 3999);

-- Tax by destination: a region's own rate (US states) before its country's;
-- a destination without a row pays none. Basis points: 2000 is 20%.
CREATE TABLE tax_rates (
    country TEXT NOT NULL,
    region TEXT NOT NULL,
    rate_basis_points BIGINT NOT NULL CHECK (rate_basis_points BETWEEN 0 AND 10000),
    PRIMARY KEY (country, region)
);
INSERT INTO tax_rates (country, region, rate_basis_points) VALUES
    ('US', '', 0),
    ('US', 'CA', 725),
    ('US', 'NY', 400),
    ('US', 'TX', 625),
    ('US', 'WA', 650),
    ('CA', '', 500),
    ('GB', '', 2000),
    ('DE', '', 1900),
    ('FR', '', 2000);

-- Whether a currency's prices already include tax (EUR, as shown in Europe)
-- or have it added at checkout (USD, as shown in the US).
CREATE TABLE currency_tax_display (
    currency TEXT PRIMARY KEY,
    taxes_included BIGINT NOT NULL
);
INSERT INTO currency_tax_display (currency, taxes_included) VALUES ('USD', 0), ('EUR', 1);

-- Fulfilment: what was shipped, how, and what came back. The first shipment
-- captures the authorized payment; refunds are paid back from the capture.
CREATE TABLE fulfilments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX fulfilments_by_order ON fulfilments (order_id, created_at);
CREATE TABLE returns (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    created_at TEXT NOT NULL
);
CREATE INDEX returns_by_order ON returns (order_id, created_at);
CREATE TABLE fulfilment_lines (
    fulfilment_id TEXT NOT NULL REFERENCES fulfilments (id),
    order_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (fulfilment_id, sku)
);
CREATE INDEX fulfilment_lines_by_order ON fulfilment_lines (order_id);
CREATE TABLE return_lines (
    return_id TEXT NOT NULL REFERENCES returns (id),
    order_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (return_id, sku)
);
CREATE INDEX return_lines_by_order ON return_lines (order_id);
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    reason TEXT NOT NULL,
    -- REQUESTED until the provider has paid it back, then REFUNDED
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX refunds_by_order ON refunds (order_id, created_at);

-- The sandbox provider captures and refunds too.
CREATE TABLE sandbox_refunds (
    refund_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
