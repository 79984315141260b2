-- An application's extra-values option (docs/credentials.md): in idaas
-- mode, keep the work (or first) email and phone number and drop the
-- others instead of refusing the change. Existing applications keep
-- IDaaS's rule (refuse).
ALTER TABLE apps ADD COLUMN drop_extra_values boolean NOT NULL DEFAULT false;
