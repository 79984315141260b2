-- The event pipeline (internal/events).

-- The outbox: lifecycle events written in the transaction of each change,
-- and events received from outside. seq is commit order.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    source        TEXT NOT NULL,  -- '' for Gatehouse's own (the configured source applies)
    type          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    time          TEXT NOT NULL,
    actor         TEXT NOT NULL,  -- JSON
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    data          TEXT NOT NULL   -- JSON: the change, or the received document
);
CREATE UNIQUE INDEX events_source_id ON events (source, id);
CREATE INDEX events_time ON events (time);

-- How far the dispatcher has come.
CREATE TABLE event_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO event_cursor (id, seq) VALUES (1, 0);

-- The documents rules saw, kept for deliveries, templates and replay.
CREATE TABLE event_docs (
    seq INTEGER PRIMARY KEY,
    id  TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,
    event_seq   INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    event_time  TEXT NOT NULL,
    rule        TEXT NOT NULL,
    target      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    next_at     TEXT NOT NULL,
    lease_until TEXT,
    created     TEXT NOT NULL,
    updated     TEXT NOT NULL,
    last_status INTEGER,
    last_error  TEXT
);
CREATE INDEX deliveries_due ON deliveries (target, state, next_at);
CREATE INDEX deliveries_subject ON deliveries (target, subject, event_seq) WHERE state IN ('pending', 'running');
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_updated ON deliveries (state, updated);

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    at          TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    status      INTEGER,
    latency_us  INTEGER NOT NULL,
    response    TEXT,
    error       TEXT,
    PRIMARY KEY (delivery_id, n)
) WITHOUT ROWID;

-- Targets disabled by a 410 or by an operator.
CREATE TABLE targets_disabled (
    target TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    since  TEXT NOT NULL
);
