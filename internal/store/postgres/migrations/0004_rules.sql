-- Rules made through the admin API (the rules file holds the others).
-- rules_version moves with every change, so that each replica notices.
CREATE TABLE api_rules (
    name    text PRIMARY KEY,
    spec    text NOT NULL,   -- the rule as JSON (events.RuleSpec)
    created timestamptz NOT NULL,
    updated timestamptz NOT NULL
);
CREATE TABLE rules_version (
    id integer PRIMARY KEY CHECK (id = 1),
    v  bigint NOT NULL
);
INSERT INTO rules_version (id, v) VALUES (1, 0);
