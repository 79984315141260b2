-- Provisioning (internal/provision): which Gatehouse resource is which
-- object in another system, per connection, and each connection's state.
CREATE TABLE sync_links (
    scope     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    local_id  TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    hash      TEXT NOT NULL,
    updated   TEXT NOT NULL,
    PRIMARY KEY (scope, kind, local_id)
);
CREATE UNIQUE INDEX sync_links_remote ON sync_links (scope, kind, remote_id);

CREATE TABLE sync_state (
    scope   TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    updated TEXT NOT NULL
);
