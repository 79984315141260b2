-- externalId belongs to the provisioning domain of the client that sets it
-- (RFC 7643 §3.1): an application's id, or a connector's scope
-- ("ldap:corp"). Each domain has its own values: two IdPs may use the same
-- externalId for different people. The (domain, external_id) unique index is
-- the index of `externalId eq` filters and idempotent creates.
CREATE TABLE user_external_ids (
    user_seq    bigint NOT NULL REFERENCES users (seq) ON DELETE CASCADE,
    domain      text COLLATE "C" NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    CONSTRAINT user_external_ids_pkey PRIMARY KEY (user_seq, domain),
    CONSTRAINT user_external_ids_value_key UNIQUE (domain, external_id)
);

CREATE TABLE group_external_ids (
    group_seq   bigint NOT NULL REFERENCES groups (seq) ON DELETE CASCADE,
    domain      text COLLATE "C" NOT NULL,
    external_id text COLLATE "C" NOT NULL,
    CONSTRAINT group_external_ids_pkey PRIMARY KEY (group_seq, domain),
    CONSTRAINT group_external_ids_value_key UNIQUE (domain, external_id)
);

-- Each existing value goes to the domain that set it: the actor of the
-- latest audit record that gave the resource its current value (an
-- application's id, a connector's name); else, for a user, the LDAP
-- connector whose link has that value as the entry's id; else the only
-- application of kind scim-client, when there is exactly one; else
-- 'unattributed', which no client reads (docs/scim.md).
INSERT INTO user_external_ids (user_seq, domain, external_id)
SELECT u.seq, COALESCE(
    (SELECT CASE a.actor_kind WHEN 'app' THEN a.actor_app_id ELSE a.actor_app_name END
       FROM audit_log a
      WHERE a.resource_id = u.id AND a.resource_type = 'User'
        AND ((a.actor_kind = 'app' AND a.actor_app_id IS NOT NULL) OR (a.actor_kind = 'connector' AND a.actor_app_name IS NOT NULL))
        AND (a.after::jsonb ->> 'externalId') = u.external_id
        AND (a.before IS NULL OR (a.before::jsonb ->> 'externalId') IS DISTINCT FROM u.external_id)
      ORDER BY a.seq DESC LIMIT 1),
    (SELECT min(l.scope) FROM sync_links l
      WHERE l.kind = 'User' AND l.local_id = u.id AND l.remote_id = u.external_id AND l.scope LIKE 'ldap:%'),
    (SELECT min(id) FROM apps WHERE kind = 'scim-client' HAVING count(*) = 1),
    'unattributed'), u.external_id
FROM users u WHERE u.external_id IS NOT NULL;

INSERT INTO group_external_ids (group_seq, domain, external_id)
SELECT g.seq, COALESCE(
    (SELECT CASE a.actor_kind WHEN 'app' THEN a.actor_app_id ELSE a.actor_app_name END
       FROM audit_log a
      WHERE a.resource_id = g.id AND a.resource_type = 'Group'
        AND ((a.actor_kind = 'app' AND a.actor_app_id IS NOT NULL) OR (a.actor_kind = 'connector' AND a.actor_app_name IS NOT NULL))
        AND (a.after::jsonb ->> 'externalId') = g.external_id
        AND (a.before IS NULL OR (a.before::jsonb ->> 'externalId') IS DISTINCT FROM g.external_id)
      ORDER BY a.seq DESC LIMIT 1),
    (SELECT min(l.scope) FROM sync_links l
      WHERE l.kind = 'Group' AND l.local_id = g.id AND l.remote_id = g.external_id AND l.scope LIKE 'ldap:%'),
    (SELECT min(id) FROM apps WHERE kind = 'scim-client' HAVING count(*) = 1),
    'unattributed'), g.external_id
FROM groups g WHERE g.external_id IS NOT NULL;

-- The hub-wide columns are gone (organizations keep theirs).
ALTER TABLE users DROP COLUMN external_id;
ALTER TABLE groups DROP COLUMN external_id;
