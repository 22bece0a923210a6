-- What listings filter on most, kept on the product row so a broad listing
-- does not visit every variant: how many of its variants are in stock (from
-- the availability read model), and covering indexes for the variant and
-- option joins of the option filters and facets.
ALTER TABLE products ADD COLUMN available_variants BIGINT NOT NULL DEFAULT 0;
UPDATE products SET available_variants = (
    SELECT COUNT(*) FROM variants v JOIN stock_availability a ON a.sku = v.sku WHERE v.product_id = products.id AND a.available > 0
);
CREATE INDEX variants_by_product_with_price ON variants (product_id, sku, price_minor);
CREATE INDEX variant_options_by_sku ON variant_options (sku, name, value);

-- The option values each product has among its variants, once each: the
-- option facet counts products per value from here, without visiting
-- variants. Written with the variants (options never change after).
CREATE TABLE product_option_values (
    product_id TEXT NOT NULL REFERENCES products (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (product_id, name, value)
);
INSERT INTO product_option_values (product_id, name, value)
    SELECT DISTINCT v.product_id, o.name, o.value FROM variant_options o JOIN variants v ON v.sku = o.sku;
