-- The login policy's group bindings (internal/login/binding.go): one
-- sync_state row per configured name (scope login:policy-group:NAME),
-- written only if absent, instead of one record of every name that each
-- server rewrote whole (two servers binding at once lost a binding). The
-- record's bindings become rows; the record goes.
INSERT INTO sync_state (scope, state, updated)
SELECT 'login:policy-group:' || j.key, j.value, s.updated
FROM sync_state s, json_each(s.state) j
WHERE s.scope = 'login:policy-groups' AND j.type = 'object';
DELETE FROM sync_state WHERE scope = 'login:policy-groups';
