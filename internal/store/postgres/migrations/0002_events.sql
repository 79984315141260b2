-- The event pipeline (internal/events).

-- The outbox: lifecycle events written in the transaction of each change,
-- and events received from outside. seq is taken from events_seq while the
-- transaction holds the audit chain's head lock (every writer of events
-- appends an audit record first), so seq order is commit order and the
-- dispatcher, reading "seq > cursor", never skips a late commit.
CREATE SEQUENCE events_seq;
CREATE TABLE events (
    seq           bigint PRIMARY KEY,
    id            text NOT NULL,
    source        text NOT NULL,  -- '' for Gatehouse's own (the configured source applies)
    type          text NOT NULL,
    subject       text NOT NULL,
    time          timestamptz NOT NULL,
    actor         jsonb NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    data          text NOT NULL   -- JSON: the change, or the received document
);
CREATE UNIQUE INDEX events_source_id ON events (source, id);
CREATE INDEX events_time ON events (time);

CREATE TABLE event_cursor (
    id  integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL
);
INSERT INTO event_cursor (id, seq) VALUES (1, 0);

CREATE TABLE event_docs (
    seq bigint PRIMARY KEY,
    id  text NOT NULL,
    doc text NOT NULL
);

CREATE TABLE deliveries (
    id          text PRIMARY KEY,
    event_seq   bigint NOT NULL,
    event_id    text NOT NULL,
    event_type  text NOT NULL,
    event_time  timestamptz NOT NULL,
    rule        text NOT NULL,
    target      text NOT NULL,
    subject     text NOT NULL,
    payload     text NOT NULL,
    state       text NOT NULL,
    attempts    integer NOT NULL,
    next_at     timestamptz NOT NULL,
    lease_until timestamptz,
    created     timestamptz NOT NULL,
    updated     timestamptz NOT NULL,
    last_status integer,
    last_error  text
);
-- Claim and NextDue: a target's pending deliveries in the order Claim takes
-- them, so that it reads only as many entries as it claims.
CREATE INDEX deliveries_due ON deliveries (target, next_at, event_seq) WHERE state = 'pending';
-- Ordered claims: is an earlier delivery of the subject unfinished?
CREATE INDEX deliveries_subject ON deliveries (target, subject, event_seq) WHERE state IN ('pending', 'running');
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_updated ON deliveries (state, updated);

CREATE TABLE delivery_attempts (
    delivery_id text NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    n           integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,
    status      integer,
    latency_us  bigint NOT NULL,
    response    text,
    error       text,
    PRIMARY KEY (delivery_id, n)
);

CREATE TABLE targets_disabled (
    target text PRIMARY KEY,
    reason text NOT NULL,
    since  timestamptz NOT NULL
);
