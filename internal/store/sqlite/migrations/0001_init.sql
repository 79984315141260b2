-- Organizations: a tree rooted at 'root'.
CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    parent_id   TEXT REFERENCES orgs (id),
    name        TEXT NOT NULL,
    external_id TEXT UNIQUE,
    created     TEXT NOT NULL,
    modified    TEXT NOT NULL,
    version     INTEGER NOT NULL
);
CREATE INDEX orgs_parent ON orgs (parent_id);
INSERT INTO orgs (id, parent_id, name, created, modified, version)
VALUES ('root', NULL, 'Root', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 1);

-- Users. seq is the creation order: stable paging walks it.
CREATE TABLE users (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    org_id             TEXT NOT NULL REFERENCES orgs (id),
    user_name          TEXT NOT NULL,
    user_name_lower    TEXT NOT NULL UNIQUE,
    external_id        TEXT UNIQUE,
    display_name       TEXT,
    display_name_lower TEXT,
    active             INTEGER NOT NULL,
    password_hash      TEXT,
    attrs              TEXT NOT NULL,
    created            TEXT NOT NULL,
    modified           TEXT NOT NULL,
    version            INTEGER NOT NULL
);
CREATE INDEX users_org ON users (org_id, seq);
CREATE INDEX users_modified ON users (modified);

-- One row per email, so that emails[value eq …] uses an index.
CREATE TABLE user_emails (
    user_seq      INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    pos           INTEGER NOT NULL,
    value_lower   TEXT NOT NULL,
    type_lower    TEXT,
    display_lower TEXT,
    is_primary    INTEGER NOT NULL,
    PRIMARY KEY (user_seq, pos)
) WITHOUT ROWID;
CREATE INDEX user_emails_value ON user_emails (value_lower);

CREATE TABLE groups (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    org_id             TEXT NOT NULL REFERENCES orgs (id),
    display_name       TEXT NOT NULL,
    display_name_lower TEXT NOT NULL UNIQUE,
    external_id        TEXT UNIQUE,
    attrs              TEXT NOT NULL,
    created            TEXT NOT NULL,
    modified           TEXT NOT NULL,
    version            INTEGER NOT NULL
);
CREATE INDEX groups_org ON groups (org_id, seq);
CREATE INDEX groups_modified ON groups (modified);

CREATE TABLE group_members (
    group_seq INTEGER NOT NULL REFERENCES groups (seq) ON DELETE CASCADE,
    user_seq  INTEGER NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    PRIMARY KEY (group_seq, user_seq)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members (user_seq, group_seq);

-- Append-only, hash-chained audit trail, written in the transaction of each
-- change: hash = SHA-256 over the record and prev_hash (the previous
-- record's hash), computed by directory.AuditHash. Records can only be
-- deleted by retention pruning, which first inserts a row into
-- audit_prune_guard in its own transaction.
CREATE TABLE audit_log (
    seq            INTEGER PRIMARY KEY,
    at             TEXT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_app_id   TEXT,
    actor_app_name TEXT,
    actor_token_id TEXT,
    request_id     TEXT,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    before         TEXT,
    after          TEXT,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL
);
CREATE INDEX audit_log_resource ON audit_log (resource_id, seq);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_app_id, seq);
CREATE TABLE audit_prune_guard (pruning INTEGER NOT NULL);
-- The last record's seq and hash, so that removing records from the end of
-- the chain is noticed too.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
CREATE TRIGGER audit_log_head AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_guard)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Applications: SCIM clients, server applications, administrators.
CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    idaas_fields  INTEGER NOT NULL,
    idempotent    INTEGER NOT NULL,
    target_org_id TEXT NOT NULL REFERENCES orgs (id),
    sync_orgs     TEXT NOT NULL,
    sync_groups   TEXT NOT NULL,
    extension_urn TEXT,
    enabled       INTEGER NOT NULL,
    created       TEXT NOT NULL,
    modified      TEXT NOT NULL
);

CREATE TABLE app_tokens (
    id        TEXT PRIMARY KEY,
    app_id    TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hash      BLOB NOT NULL UNIQUE,
    hint      TEXT NOT NULL,
    enabled   INTEGER NOT NULL,
    created   TEXT NOT NULL,
    expires   TEXT NOT NULL,
    last_used TEXT,
    use_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_tokens_app ON app_tokens (app_id);

-- OAuth 2.0 client secrets.
CREATE TABLE app_secrets (
    id        TEXT PRIMARY KEY,
    app_id    TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    hash      BLOB NOT NULL UNIQUE,
    hint      TEXT NOT NULL,
    enabled   INTEGER NOT NULL,
    created   TEXT NOT NULL,
    last_used TEXT,
    use_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_secrets_app ON app_secrets (app_id);

-- Request statistics per application.
CREATE TABLE app_stats (
    app_id     TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    requests   INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    by_reason  TEXT NOT NULL,
    last_error TEXT,
    last_at    TEXT
);

-- Keys that sign OAuth access tokens.
CREATE TABLE signing_keys (
    id          TEXT PRIMARY KEY,
    alg         TEXT NOT NULL,
    private_pem TEXT NOT NULL,
    created     TEXT NOT NULL,
    retired     TEXT
);

-- Bumped by every change to applications, credentials and keys: processes
-- check it before trusting a remembered credential.
CREATE TABLE cred_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO cred_version (id, version) VALUES (1, 1);
