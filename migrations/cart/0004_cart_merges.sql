-- The customer's cart a MERGED guest cart's lines went into, so that the
-- same merge asked again answers that cart.
ALTER TABLE carts ADD COLUMN merged_into TEXT;
