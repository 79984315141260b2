-- Single sign-on applications (docs/sso.md): the groups allowed to use an
-- application (group ids), whether every person may, whether it accepts
-- only Gatehouse sessions, the least number of factors it needs (0: the
-- groups' policy), and its protocol settings (a JSON object owned by its
-- kind, NULL for other kinds). Existing applications are not SSO
-- applications: nobody is allowed, nothing is set.
ALTER TABLE apps ADD COLUMN allowed_groups text[] NOT NULL DEFAULT '{}';
ALTER TABLE apps ADD COLUMN allow_everyone boolean NOT NULL DEFAULT false;
ALTER TABLE apps ADD COLUMN require_sso boolean NOT NULL DEFAULT false;
ALTER TABLE apps ADD COLUMN min_factors integer NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN sso jsonb;
