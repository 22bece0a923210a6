-- The event backbone's tables (subgraphs/kit/src/events): every subgraph
-- database has them, whether it produces events, consumes them, or both.

-- Events written in the same transaction as the state change they describe,
-- until the relay has published them.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    version BIGINT NOT NULL,
    occurred_at TEXT NOT NULL,
    producer TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    traceparent TEXT,
    payload TEXT NOT NULL,
    published_at TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until TEXT,
    last_error TEXT
);
CREATE INDEX outbox_due ON outbox (published_at, next_attempt_at);

-- Events a consumer has applied, recorded in the same transaction as the effect.
CREATE TABLE processed_events (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Failed deliveries so far, per consumer and event.
CREATE TABLE delivery_failures (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Deliveries that failed for good, for an operator to list and replay.
CREATE TABLE dead_letters (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    envelope TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    replayed_at TEXT,
    UNIQUE (consumer, event_id)
);
