-- Which events are still to be published, and their retries, moved to the
-- shared leased queue (work_items, queue 'outbox'); the outbox keeps the
-- record of every event the subgraph produced.
INSERT INTO work_items (queue, id, due_at, attempts, last_error)
    SELECT 'outbox', id, next_attempt_at, attempts, last_error FROM outbox WHERE published_at IS NULL;
DROP INDEX outbox_due;
ALTER TABLE outbox DROP COLUMN attempts;
ALTER TABLE outbox DROP COLUMN next_attempt_at;
ALTER TABLE outbox DROP COLUMN locked_until;
ALTER TABLE outbox DROP COLUMN last_error;
