-- Appends without a global lock (issue 16). A change's audit record and
-- events are written, in the change's transaction, to audit_pending and
-- events_pending, which take no lock: concurrent changes commit in
-- parallel. Sealing (store/postgres/seal.go) then moves the committed
-- pending rows, in rid order, into the hash chain (audit_log, under the
-- audit_head row lock: seq, prev_hash, hash) and into the outbox (events,
-- seq from events_seq under the same lock, so that seq order stays commit
-- order for the dispatcher), and deletes them, in one transaction.
--
-- rid is the order of writing. Rows of transactions that roll back never
-- become visible and are never sealed: the gaps in rid are harmless, and
-- seq in audit_log and events stays without gaps of its own making.
CREATE SEQUENCE pending_rid;

CREATE TABLE audit_pending (
    rid            bigint PRIMARY KEY DEFAULT nextval('pending_rid'),
    at             timestamptz NOT NULL,
    actor_kind     text NOT NULL,
    actor_app_id   text,
    actor_app_name text,
    actor_token_id text,
    request_id     text,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text NOT NULL,
    before         text,
    after          text
);

CREATE TABLE events_pending (
    rid           bigint PRIMARY KEY,
    id            text NOT NULL,
    type          text NOT NULL,
    subject       text NOT NULL,
    time          timestamptz NOT NULL,
    actor         jsonb NOT NULL,
    resource_type text NOT NULL,
    resource_id   text NOT NULL,
    data          text NOT NULL
);

-- Both are queues: rows live for milliseconds. Vacuum them after every
-- thousand deletions rather than after a fifth of the table.
ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);
ALTER TABLE events_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);

-- A pending record is never changed, and deleted only by sealing, which
-- sets gatehouse.audit_seal for its own transaction (as retention pruning
-- sets gatehouse.audit_prune for audit_log). A guard against mistakes, as
-- audit_log's: until it is sealed, nothing but this guard protects it
-- (docs/credentials.md, threat model).
CREATE FUNCTION audit_pending_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('gatehouse.audit_seal', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_pending is append-only until sealed';
END
$$;
-- Per statement: sealing deletes many rows at once.
CREATE TRIGGER audit_pending_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_pending
    FOR EACH STATEMENT EXECUTE FUNCTION audit_pending_guard();

-- Schedules run by one replica at a time (the leader: store/postgres
-- leader.go): when each last started, and where, so that a replica taking
-- over after the leader died keeps the schedule instead of starting it
-- over.
CREATE TABLE schedule_runs (
    name    text PRIMARY KEY,
    started timestamptz NOT NULL,
    holder  text NOT NULL
);
