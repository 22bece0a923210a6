-- The outbox is its own leased queue: an event is recorded with one insert,
-- and the relay claims unpublished events, rows and all, in one statement
-- and marks them published in one more, where the shared work_items queue
-- cost an insert, a read and a delete more per event.
ALTER TABLE outbox ADD COLUMN due_at TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
UPDATE outbox SET
    due_at = COALESCE((SELECT w.due_at FROM work_items w WHERE w.queue = 'outbox' AND w.id = outbox.id), occurred_at),
    attempts = COALESCE((SELECT w.attempts FROM work_items w WHERE w.queue = 'outbox' AND w.id = outbox.id), 0),
    last_error = (SELECT w.last_error FROM work_items w WHERE w.queue = 'outbox' AND w.id = outbox.id)
    WHERE published_at IS NULL;
DELETE FROM work_items WHERE queue = 'outbox';
CREATE INDEX outbox_unpublished ON outbox (due_at, id) WHERE published_at IS NULL;
