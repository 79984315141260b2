-- Appends without a global lock (issue 16) are PostgreSQL's migration 0017:
-- several servers commit there at once. SQLite has one writer, which appends
-- each change's audit record and events to the chain inline, in its own
-- transaction, so nothing changes here. The migration exists so that a
-- number names the same step of the schema in both stores.
SELECT 1;
