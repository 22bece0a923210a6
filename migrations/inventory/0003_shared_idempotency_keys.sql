-- adjustStock's idempotency keys move to the shared table (kit::idempotency);
-- stock_adjustments stays the ledger of adjustments, by key. Keys recorded
-- before kept no fingerprint: sent again, they are refused as reused.
INSERT INTO idempotent_requests (operation, owner, idempotency_key, fingerprint, result_id, created_at)
    SELECT 'adjustStock', '', idempotency_key, '', idempotency_key, created_at FROM stock_adjustments;
