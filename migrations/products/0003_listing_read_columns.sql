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
