-- The administrators' console (docs/console.md): the console sessions of
-- admin tokens. Whoever types an admin token into /console/login gets a
-- random cookie token whose SHA-256 is kept here with the application and
-- token id (never the admin token); each request checks that the token
-- still may administer. A person's console session is her sign-in
-- session (login_sessions).
CREATE TABLE console_sessions (
    id         text PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    app_id     text NOT NULL,
    token_id   text NOT NULL,
    created    timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    expires    timestamptz NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires);
