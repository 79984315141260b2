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
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          text NOT NULL,
    name          text NOT NULL,
    confirmed     boolean NOT NULL,
    secret        bytea,
    last_step     bigint NOT NULL DEFAULT 0,
    credential_id bytea CONSTRAINT login_factors_credential_id_key UNIQUE,
    credential    text,
    sign_count    bigint NOT NULL DEFAULT 0,
    created       timestamptz NOT NULL,
    last_used     timestamptz
);
CREATE INDEX login_factors_user ON login_factors (user_id);

CREATE TABLE login_recovery_codes (
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    created   timestamptz NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE login_challenges (
    binding text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    data    text NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX login_challenges_expires ON login_challenges (expires);

ALTER TABLE login_accounts ADD COLUMN factor_failures integer NOT NULL DEFAULT 0;
