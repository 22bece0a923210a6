-- A cart holds one currency: its first line's, kept while it has lines.
ALTER TABLE carts ADD COLUMN currency TEXT;
