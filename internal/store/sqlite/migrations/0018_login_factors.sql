-- Second factors (docs/sso.md, "Second factors"): each person's TOTP
-- authenticators and WebAuthn credentials, her recovery codes (SHA-256 of
-- high-entropy codes, never the codes), the WebAuthn ceremonies in progress
-- (their challenge, bound to a login or a session), and the count of failed
-- second-factor attempts from clients that are not her trusted devices.
-- A TOTP secret is stored sealed (AES-256-GCM with the key of
-- login.factor_key_file, outside the database); last_step is the last time
-- step a code was accepted for, so that no replica accepts a code twice.
-- Rows go with their user. Nobody has a second factor before this
-- migration: nothing to carry over.
CREATE TABLE login_factors (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL,
    confirmed     INTEGER NOT NULL,
    secret        BLOB,
    last_step     INTEGER NOT NULL DEFAULT 0,
    credential_id BLOB UNIQUE,
    credential    TEXT,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    created       TEXT NOT NULL,
    last_used     TEXT
);
CREATE INDEX login_factors_user ON login_factors (user_id);

CREATE TABLE login_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    created   TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

CREATE TABLE login_challenges (
    binding TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    data    TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX login_challenges_expires ON login_challenges (expires);

ALTER TABLE login_accounts ADD COLUMN factor_failures INTEGER NOT NULL DEFAULT 0;
