-- Lifecycle (issue 11): rules apply to events from the moment they come
-- into force, and an account's first activation is told from the others.

-- Each rule's start: the seq of the last event written before the rule
-- first came into force on a server (events.Pipeline). The rule matches
-- only the events after it. since is when it came into force.
CREATE TABLE rule_starts (
    name  TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL,
    since TEXT NOT NULL
);

-- A database whose pipeline has dispatched events before this upgrade:
-- the rules in force at the first start after it are taken to have been in
-- force before, and start at the dispatch cursor (the events written while
-- the server was stopped for the upgrade still reach them). The first
-- start consumes it; NULL: new rules start at the head of the outbox.
ALTER TABLE event_cursor ADD COLUMN rules_from INTEGER;
UPDATE event_cursor SET rules_from = seq WHERE seq > 0;

-- The accounts that have been active at least once: the first time an
-- account is active (created active, or enabled) is its first activation
-- (detail.firstActivation of its User.Created or User.Enabled event).
CREATE TABLE user_activations (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    at      TEXT NOT NULL
) WITHOUT ROWID;

-- Every account that exists at the upgrade counts as activated: rules
-- before this change routed each account's User.Created, whatever its
-- state, so none is welcomed a second time when it is enabled.
INSERT INTO user_activations (user_id, at) SELECT id, created FROM users;
