-- Every change of a sku's stock bumps its version; StockLevelChanged carries
-- it so the catalog's read model keeps the newest level whatever the order
-- of delivery.
ALTER TABLE stock_levels ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
