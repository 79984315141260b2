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

-- Append-only audit trail, written in the transaction of each change.
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
    after          TEXT
);
CREATE INDEX audit_log_resource ON audit_log (resource_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Applications (SCIM clients) and their bearer tokens.
CREATE TABLE apps (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    idaas_fields  INTEGER NOT NULL,
    idempotent    INTEGER NOT NULL,
    target_org_id TEXT NOT NULL REFERENCES orgs (id),
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
