-- Provisioning (internal/provision): which Gatehouse resource is which
-- object in another system, per connection, and each connection's state.
CREATE TABLE sync_links (
    scope     text NOT NULL,
    kind      text NOT NULL,
    local_id  text NOT NULL,
    remote_id text NOT NULL,
    hash      text NOT NULL,
    updated   timestamptz NOT NULL,
    PRIMARY KEY (scope, kind, local_id)
);
CREATE UNIQUE INDEX sync_links_remote ON sync_links (scope, kind, remote_id);

CREATE TABLE sync_state (
    scope   text PRIMARY KEY,
    state   text NOT NULL,
    updated timestamptz NOT NULL
);
