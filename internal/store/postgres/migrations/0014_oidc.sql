-- OpenID Connect provider: pending authorization requests, grants, codes and refresh tokens
--
-- oidc_auth_requests  an authorization request waiting for its person to
--                     sign in: the login page sends the browser back to
--                     /oidc/authorize/resume?id=… (nothing of the request
--                     travels through the browser but its id)
-- oidc_grants         what one authorization granted a client: the family
--                     of its code and refresh tokens; revoked as a whole
--                     (a reused code or refresh token, revocation, logout
--                     of the session of an online grant)
-- oidc_tokens         authorization codes and refresh tokens, by the
--                     SHA-256 of their value (never the value); used is
--                     set when a code is redeemed or a refresh token is
--                     rotated: presenting it again revokes the grant
CREATE TABLE oidc_auth_requests (
    id         text PRIMARY KEY,
    client_id  text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    request    jsonb NOT NULL,
    created    timestamptz NOT NULL,
    expires    timestamptz NOT NULL,
    login_sent timestamptz
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires);

CREATE TABLE oidc_grants (
    id         text PRIMARY KEY,
    client_id  text NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    session_id text NOT NULL,
    scopes     text NOT NULL,
    nonce      text NOT NULL,
    auth_time  timestamptz NOT NULL,
    amr        text[] NOT NULL,
    acr        text NOT NULL,
    offline    boolean NOT NULL,
    created    timestamptz NOT NULL,
    expires    timestamptz NOT NULL,
    revoked    timestamptz
);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_expires ON oidc_grants (expires);

CREATE TABLE oidc_tokens (
    hash         bytea PRIMARY KEY,
    grant_id     text NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('code', 'refresh')),
    redirect_uri text NOT NULL,
    challenge    text NOT NULL,
    created      timestamptz NOT NULL,
    expires      timestamptz NOT NULL,
    used         timestamptz
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
