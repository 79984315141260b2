-- The configuration each server runs its event pipeline with (events
-- source, the rules file's rules and targets without their secrets),
-- recorded at start and at every reload, so that the command line shows the
-- running system (events.ServerConfig). One row per server: host name and
-- listen address.
CREATE TABLE server_configs (
    server   TEXT PRIMARY KEY,
    recorded TEXT NOT NULL,
    stopped  TEXT,            -- NULL while it runs, or if it died
    config   TEXT NOT NULL    -- events.ServerConfig as JSON
);
