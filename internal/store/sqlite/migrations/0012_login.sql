-- Sign-in (docs/sso.md): browser sessions, logins in progress, each
-- account's login state (forced password change, the account-wide
-- slow-down), the failures per account and client (network or trusted
-- device), and trusted devices. Everything a session depends on is here, so
-- that replicas share it. Rows go with their user (ON DELETE CASCADE):
-- deleting an account ends its sessions in the same transaction.
CREATE TABLE login_sessions (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  TEXT NOT NULL,
    amr        TEXT NOT NULL,
    factors    INTEGER NOT NULL,
    created    TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    expires    TEXT NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expires ON login_sessions (expires);

CREATE TABLE login_pending (
    id           TEXT PRIMARY KEY,
    browser_hash BLOB NOT NULL,
    app_id       TEXT NOT NULL,
    min_factors  INTEGER NOT NULL,
    force        INTEGER NOT NULL,
    resume       TEXT NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    amr          TEXT NOT NULL,
    factors      INTEGER NOT NULL,
    auth_time    TEXT,
    stage        TEXT NOT NULL,
    created      TEXT NOT NULL,
    expires      TEXT NOT NULL
);
CREATE INDEX login_pending_expires ON login_pending (expires);
CREATE INDEX login_pending_user ON login_pending (user_id);

CREATE TABLE login_accounts (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    must_change      INTEGER NOT NULL,
    temp_expires     TEXT,
    failures         INTEGER NOT NULL,
    last_failure     TEXT,
    next_attempt     TEXT,
    password_changed TEXT
);

CREATE TABLE login_locks (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_key   TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    first        TEXT NOT NULL,
    locked_until TEXT,
    PRIMARY KEY (user_id, client_key)
) WITHOUT ROWID;
CREATE INDEX login_locks_first ON login_locks (first);

CREATE TABLE login_devices (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created    TEXT NOT NULL,
    last_used  TEXT NOT NULL
);
CREATE INDEX login_devices_user ON login_devices (user_id);
