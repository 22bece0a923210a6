-- Customer reviews. Visible unless a moderator rejected them.
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    author_name TEXT NOT NULL,
    rating BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    title TEXT,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    verified_purchase BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    -- one review per customer and product
    UNIQUE (product_id, customer_id)
);
CREATE INDEX reviews_by_product ON reviews (product_id, status, id);

-- Products each customer has bought (from OrderConfirmed): what makes a review verified.
CREATE TABLE purchases (
    customer_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    PRIMARY KEY (customer_id, product_id)
);
