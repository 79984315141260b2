-- Gatehouse as a SAML 2.0 identity provider (internal/sso/saml).
--
-- saml_keys: the RSA keys that sign metadata, responses and assertions, with
-- their self-signed certificates. The key whose activates is the latest not
-- in the future signs; every stored key is published in the metadata (a key
-- waiting to sign, or the one it replaced), so that service providers can
-- trust a new certificate before it signs and keep the old one while they
-- switch. The private key never leaves the database except to sign.
CREATE TABLE saml_keys (
    id          TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,   -- PKCS #8
    cert_pem    TEXT NOT NULL,   -- X.509, self-signed
    created     TEXT NOT NULL,
    activates   TEXT NOT NULL
);

-- saml_requests: every AuthnRequest received (and every IdP-initiated
-- login), from its arrival until it is answered or expires. handle is the
-- server-side handle the browser comes back with after signing in; an
-- AuthnRequest id is answered once (unique per service provider), and kept
-- until long after the request itself would have expired.
CREATE TABLE saml_requests (
    handle     TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    request_id TEXT NOT NULL,    -- the AuthnRequest's ID; the handle for an IdP-initiated login
    data       TEXT NOT NULL,    -- what the response needs (JSON)
    created    TEXT NOT NULL,
    expires    TEXT NOT NULL,
    answered   TEXT,
    UNIQUE (app_id, request_id)
);
CREATE INDEX saml_requests_expires ON saml_requests (expires);

-- saml_participants: the service providers a Gatehouse session signed in
-- to, with the NameID and SessionIndex each was given, for single logout.
CREATE TABLE saml_participants (
    session_id    TEXT NOT NULL,
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name_id       TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    session_index TEXT NOT NULL,
    created       TEXT NOT NULL,
    expires       TEXT NOT NULL,
    PRIMARY KEY (session_id, app_id),
    UNIQUE (app_id, session_index)
);
CREATE INDEX saml_participants_expires ON saml_participants (expires);
