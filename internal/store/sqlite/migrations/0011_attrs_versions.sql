-- The version and time of the last change of each user's and group's own
-- attributes, apart from its memberships (and a user's manager), which
-- move version (and a group's modified) too. A reader with a
-- synchronization scope is shown a version and a lastModified derived
-- from these and from what it sees, so that changes outside its scope do
-- not show (docs/scim.md, Versioning). Existing rows start from their
-- current version and modification time.
ALTER TABLE users ADD COLUMN attrs_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN attrs_modified TEXT NOT NULL DEFAULT '';
UPDATE users SET attrs_version = version, attrs_modified = modified;
ALTER TABLE groups ADD COLUMN attrs_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN attrs_modified TEXT NOT NULL DEFAULT '';
UPDATE groups SET attrs_version = version, attrs_modified = modified;
CREATE INDEX groups_attrs_modified ON groups (attrs_modified);
