-- placeOrder's idempotency keys move to the shared table (kit::idempotency).
-- Keys recorded before kept no fingerprint: sent again, they are refused as
-- reused rather than answered.
INSERT INTO idempotent_requests (operation, owner, idempotency_key, fingerprint, result_id, created_at)
    SELECT 'placeOrder', customer_id, idempotency_key, '', order_id, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;

-- Payments still to be taken move to the shared leased queue (work_items,
-- queue 'payments').
INSERT INTO work_items (queue, id, due_at, attempts)
    SELECT 'payments', id, payment_requested_at, 0 FROM orders WHERE status = 'PENDING' AND payment_requested_at IS NOT NULL;
ALTER TABLE orders DROP COLUMN payment_requested_at;
ALTER TABLE orders DROP COLUMN payment_lease_until;
