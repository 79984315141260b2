-- The login limits of user names that are no account ("ghosts",
-- internal/login/ghosts.go), so that such a name locks after the same
-- failures as an account on every replica together, not on each apart (a
-- difference that would tell which names exist). Keyed by a hash of the
-- lower-cased name, never the name; state is the limits' JSON; a row is
-- forgotten once its limits have ended (until).
CREATE TABLE login_ghosts (
    id    TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    until TEXT NOT NULL
);
CREATE INDEX login_ghosts_until ON login_ghosts (until);
