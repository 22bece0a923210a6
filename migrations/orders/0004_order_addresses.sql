-- Where an order ships and who is billed, as validated at checkout (JSON of
-- kit::domain::Address); null for an order placed without an address.
ALTER TABLE orders ADD COLUMN shipping_address TEXT;
ALTER TABLE orders ADD COLUMN billing_address TEXT;
