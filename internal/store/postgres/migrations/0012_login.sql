-- Sign-in (docs/sso.md): browser sessions, logins in progress, each
-- account's login state (forced password change, the account-wide
-- slow-down), the failures per account and client (network or trusted
-- device), and trusted devices. Everything a session depends on is here, so
-- that replicas share it. Rows go with their user (ON DELETE CASCADE):
-- deleting an account ends its sessions in the same transaction.
CREATE TABLE login_sessions (
    id         text PRIMARY KEY,
    token_hash bytea NOT NULL CONSTRAINT login_sessions_token_hash_key UNIQUE,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  timestamptz NOT NULL,
    amr        text NOT NULL,
    factors    integer NOT NULL,
    created    timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires    timestamptz NOT NULL
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expires ON login_sessions (expires);

CREATE TABLE login_pending (
    id           text PRIMARY KEY,
    browser_hash bytea NOT NULL,
    app_id       text NOT NULL,
    min_factors  integer NOT NULL,
    force        boolean NOT NULL,
    resume       text NOT NULL,
    user_id      text REFERENCES users (id) ON DELETE CASCADE,
    amr          text NOT NULL,
    factors      integer NOT NULL,
    auth_time    timestamptz,
    stage        text NOT NULL,
    created      timestamptz NOT NULL,
    expires      timestamptz NOT NULL
);
CREATE INDEX login_pending_expires ON login_pending (expires);
CREATE INDEX login_pending_user ON login_pending (user_id);

CREATE TABLE login_accounts (
    user_id          text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    must_change      boolean NOT NULL,
    temp_expires     timestamptz,
    failures         integer NOT NULL,
    last_failure     timestamptz,
    next_attempt     timestamptz,
    password_changed timestamptz
);

CREATE TABLE login_locks (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_key   text NOT NULL,
    failures     integer NOT NULL,
    first        timestamptz NOT NULL,
    locked_until timestamptz,
    PRIMARY KEY (user_id, client_key)
);
CREATE INDEX login_locks_first ON login_locks (first);

CREATE TABLE login_devices (
    id         text PRIMARY KEY,
    token_hash bytea NOT NULL CONSTRAINT login_devices_token_hash_key UNIQUE,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created    timestamptz NOT NULL,
    last_used  timestamptz NOT NULL
);
CREATE INDEX login_devices_user ON login_devices (user_id);
