-- Rules made through the admin API (the rules file holds the others).
-- rules_version moves with every change, so that each replica notices.
CREATE TABLE api_rules (
    name    TEXT PRIMARY KEY,
    spec    TEXT NOT NULL,   -- the rule as JSON (events.RuleSpec)
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE rules_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v  INTEGER NOT NULL
);
INSERT INTO rules_version (id, v) VALUES (1, 0);
