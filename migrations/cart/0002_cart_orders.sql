-- The order that took the cart, so that only that order's rejection reopens it.
ALTER TABLE carts ADD COLUMN order_id TEXT;
