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
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    request    TEXT NOT NULL,
    created    TEXT NOT NULL,
    expires    TEXT NOT NULL,
    login_sent TEXT
);
CREATE INDEX oidc_auth_requests_expires ON oidc_auth_requests (expires);

CREATE TABLE oidc_grants (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    auth_time  TEXT NOT NULL,
    amr        TEXT NOT NULL,
    acr        TEXT NOT NULL,
    offline    INTEGER NOT NULL,
    created    TEXT NOT NULL,
    expires    TEXT NOT NULL,
    revoked    TEXT
);
CREATE INDEX oidc_grants_session ON oidc_grants (session_id);
CREATE INDEX oidc_grants_expires ON oidc_grants (expires);

CREATE TABLE oidc_tokens (
    hash         BLOB PRIMARY KEY,
    grant_id     TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('code', 'refresh')),
    redirect_uri TEXT NOT NULL,
    challenge    TEXT NOT NULL,
    created      TEXT NOT NULL,
    expires      TEXT NOT NULL,
    used         TEXT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
