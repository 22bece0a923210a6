-- Tables every subgraph database has beside its own (subgraphs/kit).

-- Requests made under an idempotency key (kit::idempotency): the first
-- request under a key decides the answer; its fingerprint recognises the
-- same request sent again.
CREATE TABLE idempotent_requests (
    operation TEXT NOT NULL,
    owner TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (operation, owner, idempotency_key)
);

-- Leased work (kit::work): events to publish, payments to take.
CREATE TABLE work_items (
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    due_at TEXT NOT NULL,
    lease_until TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (queue, id)
);
CREATE INDEX work_items_due ON work_items (queue, due_at);
