-- Gatehouse's schema for PostgreSQL: the same tables and columns as the
-- SQLite store's, in PostgreSQL's own types. Names are unqualified: the store
-- sets search_path to its schema. Constraints are named, because the store
-- maps a unique violation to the attribute at fault by constraint name.
--
-- Text that is compared for order (sorting, gt/lt filters, keyset paging)
-- is COLLATE "C": byte order of UTF-8, which is code point order, the order
-- the SCIM filter reference evaluator uses whatever the database's locale.
-- Those columns already hold lower-cased values (lower-cased in Go), so SQL
-- never lower-cases them.

-- Organizations: a tree rooted at 'root'.
CREATE TABLE orgs (
    id          text PRIMARY KEY,
    parent_id   text REFERENCES orgs (id),
    name        text NOT NULL,
    external_id text COLLATE "C" CONSTRAINT orgs_external_id_key UNIQUE,
    created     timestamptz NOT NULL,
    modified    timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE INDEX orgs_parent ON orgs (parent_id);
INSERT INTO orgs (id, parent_id, name, created, modified, version)
VALUES ('root', NULL, 'Root', now(), now(), 1);

-- Users. seq is the creation order: stable paging walks it.
CREATE TABLE users (
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 text NOT NULL CONSTRAINT users_id_key UNIQUE,
    org_id             text NOT NULL REFERENCES orgs (id),
    user_name          text NOT NULL,
    user_name_lower    text COLLATE "C" NOT NULL CONSTRAINT users_user_name_lower_key UNIQUE,
    external_id        text COLLATE "C" CONSTRAINT users_external_id_key UNIQUE,
    display_name       text,
    display_name_lower text COLLATE "C",
    active             boolean NOT NULL,
    password_hash      text,
    attrs              jsonb NOT NULL,
    created            timestamptz NOT NULL,
    modified           timestamptz NOT NULL,
    version            bigint NOT NULL
);
CREATE INDEX users_org ON users (org_id, seq);
CREATE INDEX users_modified ON users (modified);

-- One row per email, so that emails[value eq …] uses an index.
CREATE TABLE user_emails (
    user_seq      bigint NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    pos           integer NOT NULL,
    value_lower   text COLLATE "C" NOT NULL,
    type_lower    text COLLATE "C",
    display_lower text COLLATE "C",
    is_primary    boolean NOT NULL,
    PRIMARY KEY (user_seq, pos)
);
CREATE INDEX user_emails_value ON user_emails (value_lower);

CREATE TABLE groups (
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                 text NOT NULL CONSTRAINT groups_id_key UNIQUE,
    org_id             text NOT NULL REFERENCES orgs (id),
    display_name       text NOT NULL,
    display_name_lower text COLLATE "C" NOT NULL CONSTRAINT groups_display_name_lower_key UNIQUE,
    external_id        text COLLATE "C" CONSTRAINT groups_external_id_key UNIQUE,
    attrs              jsonb NOT NULL,
    created            timestamptz NOT NULL,
    modified           timestamptz NOT NULL,
    version            bigint NOT NULL
);
CREATE INDEX groups_org ON groups (org_id, seq);
CREATE INDEX groups_modified ON groups (modified);

CREATE TABLE group_members (
    group_seq bigint NOT NULL REFERENCES groups (seq) ON DELETE CASCADE,
    user_seq  bigint NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, user_seq)
);
CREATE INDEX group_members_user ON group_members (user_seq, group_seq);

-- Append-only, hash-chained audit trail, written in the transaction of each
-- change: hash = SHA-256 over the record and prev_hash (the previous
-- record's hash), computed by directory.AuditHash. The store assigns seq
-- itself, from audit_head, whose row lock orders appends across replicas.
-- before and after are text, not json or jsonb: the hash covers their exact
-- bytes. at keeps microseconds, which is what the hash covers.
CREATE TABLE audit_log (
    seq            bigint PRIMARY KEY,
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
    after          text,
    prev_hash      text NOT NULL,
    hash           text NOT NULL
);
CREATE INDEX audit_log_resource ON audit_log (resource_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_app_id, seq);

-- The last record's seq and hash, so that removing records from the end of
-- the chain is noticed too.
CREATE TABLE audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');

-- Records are never changed. They are deleted only by retention pruning,
-- which sets gatehouse.audit_prune for its own transaction. (A guard against
-- mistakes, not against the database's owner, who can drop the trigger: the
-- hash chain is what shows such changes.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('gatehouse.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Applications: SCIM clients, server applications, administrators.
-- scopes is space-separated, as OAuth writes it.
CREATE TABLE apps (
    id            text PRIMARY KEY,
    name          text COLLATE "C" NOT NULL CONSTRAINT apps_name_key UNIQUE,
    kind          text NOT NULL,
    scopes        text NOT NULL,
    idaas_fields  boolean NOT NULL,
    idempotent    boolean NOT NULL,
    target_org_id text NOT NULL REFERENCES orgs (id),
    sync_orgs     text[] NOT NULL,
    sync_groups   text[] NOT NULL,
    extension_urn text,
    enabled       boolean NOT NULL,
    created       timestamptz NOT NULL,
    modified      timestamptz NOT NULL
);

CREATE TABLE app_tokens (
    id        text PRIMARY KEY,
    app_id    text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hash      bytea NOT NULL CONSTRAINT app_tokens_hash_key UNIQUE,
    hint      text NOT NULL,
    enabled   boolean NOT NULL,
    created   timestamptz NOT NULL,
    expires   timestamptz NOT NULL,
    last_used timestamptz,
    use_count bigint NOT NULL DEFAULT 0
);
CREATE INDEX app_tokens_app ON app_tokens (app_id);

-- OAuth 2.0 client secrets.
CREATE TABLE app_secrets (
    id        text PRIMARY KEY,
    app_id    text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hash      bytea NOT NULL CONSTRAINT app_secrets_hash_key UNIQUE,
    hint      text NOT NULL,
    enabled   boolean NOT NULL,
    created   timestamptz NOT NULL,
    last_used timestamptz,
    use_count bigint NOT NULL DEFAULT 0
);
CREATE INDEX app_secrets_app ON app_secrets (app_id);

-- Request statistics per application; by_reason maps a failure reason to
-- its count.
CREATE TABLE app_stats (
    app_id     text PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    requests   bigint NOT NULL,
    failures   bigint NOT NULL,
    by_reason  jsonb NOT NULL,
    last_error text,
    last_at    timestamptz
);

-- Keys that sign OAuth access tokens.
CREATE TABLE signing_keys (
    id          text PRIMARY KEY,
    alg         text NOT NULL,
    private_pem text NOT NULL,
    created     timestamptz NOT NULL,
    retired     timestamptz
);

-- Bumped by every change to applications, credentials and keys, which also
-- notifies channel gatehouse_credentials: processes check it before trusting
-- a remembered credential.
CREATE TABLE cred_version (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO cred_version (id, version) VALUES (1, 1);

-- Filter helpers. The filter dialect reads attributes in the jsonb documents
-- through these, so that the SQL it writes stays short and means what
-- filter.Match, the reference evaluator, means: a comparison sees only a
-- value of the attribute's JSON type (the number 3 does not equal the string
-- "3"). They are plain SQL functions (not STRICT, no stronger volatility than
-- their bodies), which the planner inlines into the query.

-- gh_text is the text of v if v is a JSON string, else NULL.
CREATE FUNCTION gh_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{}' END
$$;

-- gh_number is v as float8 (filter.Match compares float64s) if v is a JSON
-- number, else NULL.
CREATE FUNCTION gh_number(v jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'number' THEN v::float8 END
$$;

-- gh_bool is v if v is a JSON boolean, else NULL.
CREATE FUNCTION gh_bool(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(v) = 'boolean' THEN v::boolean END
$$;

-- gh_present reports whether v is present in filter.Match's sense: there is
-- a number, a boolean or a non-empty string at or anywhere under it. JSON
-- null, "", [] and {} (and arrays and objects of only those) are absent.
-- Never NULL. (strict: lax mode would also unwrap arrays along the way.)
CREATE FUNCTION gh_present(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(jsonb_path_exists(v,
        'strict $.** ? (@.type() == "number" || @.type() == "boolean" || (@.type() == "string" && @ != ""))'), false)
$$;

-- gh_elements is v as the array of the values filter.Match iterates for a
-- multi-valued attribute: an array is itself, any other value a list of one,
-- and a missing value or JSON null NULL, which jsonb_array_elements turns
-- into no rows. (STABLE because jsonb_build_array is.)
CREATE FUNCTION gh_elements(v jsonb) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(v) = 'array' THEN v
        WHEN jsonb_typeof(v) <> 'null' THEN jsonb_build_array(v)
    END
$$;

-- gh_timestamptz reads an RFC 3339 date-time, the only form SCIM dateTime
-- values take and the only one the filter reference evaluator accepts
-- (Go's time.RFC3339Nano), and returns NULL for anything else. Filters on
-- dateTime attributes in the JSON document compare through it, so that a
-- malformed stored value fails to match instead of failing the query, and
-- forms PostgreSQL would also accept ('today', '2025-01-02', no offset) do
-- not match either. The offset is mandatory, so the result does not depend on
-- the session's TimeZone: the function is immutable.
CREATE FUNCTION gh_timestamptz(s text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    IF s !~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$' THEN
        RETURN NULL;
    END IF;
    BEGIN
        RETURN s::timestamptz;
    EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
        RETURN NULL; -- e.g. February 30th, or year 0
    END;
END
$$;
